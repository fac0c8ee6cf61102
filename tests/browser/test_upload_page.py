"""The upload page in Debian chromium: files go up in STOW-style batches, each
file with its own progress and result; what was stored is indexed."""

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from imaging.models import Series, Study
from tests import factories
from tests.browser.conftest import ARTIFACTS, run_browser_script
from tests.conftest import World
from tests.imaging.dicom_samples import ct_series_files

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _upload_through_page(
    live_server: Any, world: World, paths: list[str], screenshot: str
) -> dict[str, Any]:
    """Upload `paths` on the project's page as investigator_a; what the page shows."""
    return run_browser_script(
        "upload_page.mjs",
        {
            "BASE_URL": live_server.url,
            "USERNAME": "investigator_a",
            "PASSWORD": factories.PASSWORD,
            "PROJECT_ID": str(world.project.pk),
            "FILES": json.dumps(paths),
            "SCREENSHOT": str(ARTIFACTS / screenshot),
        },
    )


def test_upload_page_uploads_files_with_per_file_results(
    world: World, image_store: Any, live_server: Any, tmp_path: Path
) -> None:
    paths = []
    for name, data in ct_series_files(tmp_path, slices=3):
        path = tmp_path / "up" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        paths.append(str(path))
    bad = tmp_path / "up" / "<img src=x onerror=alert(1)>.txt"
    bad.write_text("not dicom")
    paths.append(str(bad))
    out = _upload_through_page(live_server, world, paths, "upload_page.png")
    assert out["problems"] == []
    # One request for the four files, as a DICOMweb client sends them.
    assert len(out["posts"]) == 1
    assert out["posts"][0].startswith('multipart/related; type="application/dicom"; boundary=')
    by_name = {row["name"]: row for row in out["rows"]}
    assert len(by_name) == 4 and all(row["progress"] == 100 for row in out["rows"])
    assert all(by_name[Path(p).name]["ok"] for p in paths[:3])
    assert "1 accepted" in by_name[Path(paths[0]).name]["result"]
    rejected = by_name[bad.name]
    assert not rejected["ok"] and "1 rejected" in rejected["result"]
    assert "<img" in rejected["result"]  # shown as text, not markup
    assert out["summary"].startswith("Done: 3 accepted") and "1 rejected" in out["summary"]
    study = Study.objects.get(project=world.project, uploaded_by=world.users["investigator"])
    assert study.series.get().slice_count == 3
    assert (ARTIFACTS / "upload_page.png").stat().st_size > 10_000


def test_upload_page_batches_many_files_a_zip_and_repeated_names(
    world: World, image_store: Any, live_server: Any, tmp_path: Path
) -> None:
    """27 slices (over one batch's 25 files), a zip of a second series, and a file
    named like one already in the batch it would join: three requests, and each
    row reports its own file (the zip its members, the repeat as a duplicate)."""
    folder, other = tmp_path / "a", tmp_path / "b"
    folder.mkdir()
    other.mkdir()
    series = ct_series_files(tmp_path, slices=27)
    for name, data in series:
        (folder / name).write_bytes(data)
    archive = folder / "series2.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in ct_series_files(tmp_path, slices=2, series_number=2):
            zf.writestr(f"s2/{name}", data)
    repeat_name, repeat_data = series[25]
    (other / repeat_name).write_bytes(repeat_data)
    paths = [str(folder / name) for name, _ in series] + [str(archive), str(other / repeat_name)]
    out = _upload_through_page(live_server, world, paths, "upload_page_batches.png")
    assert out["problems"] == []
    assert len(out["posts"]) == 3
    assert [row["name"] for row in out["rows"]] == [Path(p).name for p in paths]
    assert all(row["progress"] == 100 and row["ok"] for row in out["rows"])
    results = [row["result"] for row in out["rows"]]
    assert results[:27] == ["1 accepted"] * 27
    assert results[27] == "2 accepted"  # the zip's members
    assert results[28] == "1 duplicate"
    assert out["summary"] == "Done: 29 accepted, 1 duplicate"
    uploaded = Series.objects.filter(study__uploaded_by=world.users["investigator"])
    counts = sorted(s.slice_count for s in uploaded)
    assert counts == [2, 27]


def test_upload_page_is_refused_to_roles_without_upload(world: World, live_server: Any) -> None:
    from django.test import Client

    client = Client()
    client.force_login(world.users["labeler"])
    assert client.get(f"/projects/{world.project.pk}/upload/").status_code == 403
    client.force_login(world.users["outsider"])
    assert client.get(f"/projects/{world.project.pk}/upload/").status_code == 404

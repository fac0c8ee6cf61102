"""The upload page in Debian chromium: files go up one by one with progress and
a per-file result; what was stored is indexed."""

import json
from pathlib import Path
from typing import Any

import pytest

from imaging.models import Study
from tests import factories
from tests.browser.conftest import ARTIFACTS, run_browser_script
from tests.conftest import World
from tests.imaging.dicom_samples import ct_series_files

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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
    out = run_browser_script(
        "upload_page.mjs",
        {
            "BASE_URL": live_server.url,
            "USERNAME": "investigator_a",
            "PASSWORD": factories.PASSWORD,
            "PROJECT_ID": str(world.project.pk),
            "FILES": json.dumps(paths),
            "SCREENSHOT": str(ARTIFACTS / "upload_page.png"),
        },
    )
    # The rejected file's request answers 400, which chromium logs; nothing else may fail.
    assert [p for p in out["problems"] if "status of 400" not in p] == []
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


def test_upload_page_is_refused_to_roles_without_upload(world: World, live_server: Any) -> None:
    from django.test import Client

    client = Client()
    client.force_login(world.users["labeler"])
    assert client.get(f"/projects/{world.project.pk}/upload/").status_code == 403
    client.force_login(world.users["outsider"])
    assert client.get(f"/projects/{world.project.pk}/upload/").status_code == 404

"""XSS payloads in every DICOM text tag, uploaded through the upload page, are
inert on every page that shows the study: with the browser ignoring the CSP,
no payload script runs, no element is built from them, and the descriptions
that reach a page appear as plain text."""

import json
from pathlib import Path
from typing import Any

import pydicom
import pytest

from imaging.models import Series
from tests import factories
from tests.browser.conftest import run_browser_script
from tests.conftest import World
from tests.imaging.dicom_samples import ct_series_files

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def payload(tag: str, n: int) -> str:
    """Short enough for LO/PN; the three shapes cover element, script and attribute contexts."""
    shapes = [
        f"<img src=x data-xss onerror=window.__xss='{tag}'>",
        f"<script data-xss>window.__xss='{tag}'</script>",
        f"\"'><svg data-xss onload=window.__xss='{tag}'>",
    ]
    return shapes[n % 3]


TEXT_TAGS = [
    "PatientName",
    "PatientID",
    "StudyDescription",
    "SeriesDescription",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "OperatorsName",
    "Manufacturer",
    "ManufacturerModelName",
    "ProtocolName",
    "PerformedProcedureStepDescription",
    "ImageComments",
    "PatientComments",
]
VALUES = {tag: payload(f"T{n}", n) for n, tag in enumerate(TEXT_TAGS)}
VALUES["BodyPartExamined"] = "<b data-xss>"  # CS: 16 characters at most


def _xss_series(tmp: Path) -> list[str]:
    paths = []
    for name, data in ct_series_files(tmp, slices=3, size=32):
        path = tmp / "xss" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        ds = pydicom.dcmread(path)
        for tag, value in VALUES.items():
            setattr(ds, tag, value)
        ds.save_as(path)
        paths.append(str(path))
    return paths


def test_xss_payloads_in_dicom_tags_are_inert_on_every_page(
    world: World, image_store: Any, live_server: Any, tmp_path: Path
) -> None:
    pk = world.project.pk
    investigator = world.users["investigator"].username
    base = {"BASE_URL": live_server.url, "PASSWORD": factories.PASSWORD}
    uploaded = run_browser_script(
        "xss_pages.mjs",
        {
            **base,
            "USERNAME": investigator,
            "UPLOAD_PATH": f"/projects/{pk}/upload/",
            "FILES": json.dumps(_xss_series(tmp_path)),
        },
    )
    before = [world.objects["series_own"].pk, world.objects["series_other"].pk]
    series = Series.objects.filter(study__project=world.project).exclude(pk__in=before).get()
    # De-identification drops the descriptions (PS3.15 basic profile); the pages
    # must still escape them when they come another way, e.g. a project admin's text.
    assert series.description == "" == series.study.description
    assert series.study.body_part == VALUES["BodyPartExamined"]
    Series.objects.filter(pk=series.pk).update(description=VALUES["SeriesDescription"])
    series.study.__class__.objects.filter(pk=series.study_id).update(
        description=VALUES["StudyDescription"]
    )
    cohort = world.objects["cohort"]
    cohort.name, cohort.description = VALUES["InstitutionName"], VALUES["ProtocolName"]
    cohort.save()
    world.project.__class__.objects.filter(pk=pk).update(description=VALUES["PatientComments"])
    pages = [
        "/",
        f"/projects/{pk}/",
        f"/projects/{pk}/series/{series.pk}/viewer/",
        f"/projects/{pk}/cohort/",
        f"/projects/{pk}/upload/",
    ]
    visited = run_browser_script(
        "xss_pages.mjs", {**base, "USERNAME": investigator, "PAGES": json.dumps(pages)}
    )
    results = uploaded["pages"] + visited["pages"]
    assert [p["path"] for p in results][1:] == pages
    for page in results:
        assert page.get("status", 200) == 200, page["path"]
        assert page["xss"] is None and page["injected"] == 0, (page["path"], page["xss"])
    assert uploaded["dialogs"] == [] == visited["dialogs"]
    by_path = {p["path"]: p for p in visited["pages"]}
    shown = [VALUES[t] for t in ("StudyDescription", "SeriesDescription", "PatientComments")]
    assert all(value in by_path[f"/projects/{pk}/"]["text"] for value in shown)
    viewer = by_path[f"/projects/{pk}/series/{series.pk}/viewer/"]
    assert VALUES["SeriesDescription"] in viewer["text"] + viewer["title"]

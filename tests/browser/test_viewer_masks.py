"""Tissue masks in the viewer, in Debian chromium against the live platform
with a phantom study in a real Orthanc: a labeler paints muscle with the brush
on the measured slice and the overlay shows it (screenshot pixels), the
correction is saved as a revision and submitted, the worker's re-measurement
code measures it from the slice's pixels, and a reviewer verifies the masks."""

import base64
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from analysis.models import BodyCompositionMeasurement
from analysis.services import job_apply_report
from imaging.dicomweb import image_store
from ml_worker.bodycomp.job import fetch_slices
from ml_worker.bodycomp.remeasure import remeasure_level
from tests import factories
from tests.browser.conftest import ARTIFACTS, run_browser_script
from tests.browser.phantom_study import PhantomStudy, ingest_phantom
from tests.conftest import World

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def measured(world: World, image_store: Any, tmp_path: Path) -> tuple[PhantomStudy, Any]:
    """The phantom with a stored L3 measurement whose model mask is empty."""
    study = ingest_phantom(project=world.project, user=world.users["investigator"], tmp=tmp_path)
    series = study.series
    l3 = next(r for r in study.levels.ranges if r["level"] == "L3")
    uid = study.levels.slice_sop_instance_uids[l3["mid"]]
    rows, cols = study.case.volume.hu.shape[1:]
    empty = base64.b64encode(zlib.compress(bytes(rows * cols))).decode()
    job = factories.JobFactory(
        project=world.project,
        institution=series.study.institution,
        series=series,
        job_type="measure_body_composition",
        state="succeeded",
    )
    row = BodyCompositionMeasurement.objects.create(
        job=job,
        series=series,
        level="L3",
        status="no_valid_slice",
        n_slices=1,
        method="threshold",
        model_name="bodycomp-threshold",
        model_version="1",
        height_m=1.7,
        weight_kg=70.0,
        sex="F",
        slices=[{"sop_instance_uid": uid, "status": "empty_mask"}],
        masks=[{"sop_instance_uid": uid, "shape": [rows, cols], "data": empty}],
    )
    return study, row


def _red(path: Path, box: dict[str, float]) -> int:
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    x, y, w, h = (round(box[k]) for k in ("x", "y", "width", "height"))
    crop = image[y : y + h, x : x + w]
    return int(((crop[..., 0] - crop[..., 1] > 60) & (crop[..., 0] - crop[..., 2] > 60)).sum())


def _env(live_server: Any, world: World, study: PhantomStudy, **extra: str) -> dict[str, str]:
    return {
        "BASE_URL": live_server.url,
        "PASSWORD": factories.PASSWORD,
        "PROJECT_ID": str(world.project.pk),
        "SERIES_ID": str(study.series.pk),
        **extra,
    }


def _remeasure(row: BodyCompositionMeasurement) -> None:
    """The re-measurement job, run by the worker's own code in-process (the
    Celery path is covered by tests/integration/test_mask_remeasure.py)."""
    job = row.remeasure_job
    series = row.series
    datasets = fetch_slices(
        image_store().client,
        series.study.study_instance_uid,
        series.series_instance_uid,
        job.parameters["sop_instance_uids"],
    )
    result, _, _ = remeasure_level(datasets, job.parameters)
    job_apply_report(job_id=job.pk, state="running", started=True)
    job_apply_report(job_id=job.pk, state="succeeded", result=result)


def test_labeler_paints_a_mask_and_reviewer_verifies(
    world: World, measured: tuple[PhantomStudy, Any], live_server: Any
) -> None:
    study, row = measured
    before, after = ARTIFACTS / "viewer_mask_before.png", ARTIFACTS / "viewer_mask_painted.png"
    out = run_browser_script(
        "viewer_masks.mjs",
        _env(
            live_server,
            world,
            study,
            USERNAME="labeler_a",
            MODE="paint",
            SCREENSHOT_BEFORE=str(before),
            SCREENSHOT=str(after),
        ),
        timeout=240,
    )
    assert out["problems"] == []
    assert out["hit"] == "mask-overlay" and out["afterPaint"]["dirty"] == "1", out["hit"]
    assert out["saveMessage"].startswith("Saved")
    red_before, red_after = _red(before, out["boxes"]["axial"]), _red(after, out["boxes"]["axial"])
    assert red_before < 20 and red_after > 300, (red_before, red_after)
    assert out["saved"]["review"] == "submitted"
    row.refresh_from_db()
    labels = np.frombuffer(zlib.decompress(base64.b64decode(row.masks[0]["data"])), np.uint8)
    painted = int((labels == 1).sum())
    assert row.mask_revision == 1 and row.mask_source == "corrected" and painted > 100
    assert row.corrected_by == world.users["labeler"]
    assert list(row.revisions.values_list("operation", flat=True)) == ["model", "correct"]

    _remeasure(row)
    row.refresh_from_db()
    assert row.measured_revision == 1 and row.muscle_area_cm2 is not None
    row_mm, col_mm = study.case.volume.pixel_spacing_mm
    assert row.muscle_area_cm2 == pytest.approx(painted * row_mm * col_mm / 100, rel=1e-3)

    review = run_browser_script(
        "viewer_masks.mjs",
        _env(
            live_server,
            world,
            study,
            USERNAME="reviewer_a",
            MODE="review",
            SCREENSHOT=str(ARTIFACTS / "viewer_mask_verified.png"),
        ),
        timeout=240,
    )
    assert review["problems"] == []
    assert review["before"]["review"] == "submitted" and review["editHidden"]
    assert review["after"]["review"] == "verified" and "verified by reviewer_a" in review["info"]
    row.refresh_from_db()
    assert row.mask_review_status == "verified" and row.mask_review_by == world.users["reviewer"]

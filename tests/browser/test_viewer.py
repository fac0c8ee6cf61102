"""The series viewer in Debian chromium against the live platform, with a
phantom study uploaded into a real Orthanc: the sagittal reformat shows the
spine and the level bands, the Grad-CAM overlays the axial slice, a labeler
corrects levels, a reviewer verifies them, another centre is refused."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from analysis.models import Job
from annotations.models import LabelTrack
from audit.models import AuditAction, AuditEvent
from imaging.edge_access_log import ship_folder
from tests import factories
from tests.browser.conftest import ARTIFACTS, run_browser_script
from tests.browser.phantom_study import PhantomStudy, ingest_phantom
from tests.conftest import World
from tests.fixtures.nginx import Edge

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phantom(world: World, image_store: Any, tmp_path: Path) -> PhantomStudy:
    return ingest_phantom(project=world.project, user=world.users["investigator"], tmp=tmp_path)


def _env(server: Any, world: World, study: PhantomStudy, **extra: str) -> dict[str, str]:
    """The script's inputs; `server`: the live server, or nginx in front of it."""
    return {
        "BASE_URL": server.url,
        "PASSWORD": factories.PASSWORD,
        "PROJECT_ID": str(world.project.pk),
        "SERIES_ID": str(study.series.pk),
        **extra,
    }


def _crop(path: Path, box: dict[str, float]) -> np.ndarray:
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    x, y, w, h = (round(box[k]) for k in ("x", "y", "width", "height"))
    return image[y : y + h, x : x + w]


def _bone_column(sagittal: np.ndarray) -> tuple[float, int]:
    """Fraction of bright (bone-window white) pixels in the brightest image
    column band, and the number of rows holding them: a vertical spine."""
    bright = sagittal.min(axis=2) > 200
    per_column = bright.sum(axis=0)
    best = int(per_column.argmax())
    band = bright[:, max(0, best - 3) : best + 4].any(axis=1)
    return float(bright.mean()), int(band.sum())


def test_viewer_shows_spine_bands_and_cam(
    world: World, phantom: PhantomStudy, live_server: Any
) -> None:
    shot, cam_shot = ARTIFACTS / "viewer_sagittal.png", ARTIFACTS / "viewer_cam.png"
    out = run_browser_script(
        "viewer_open.mjs",
        _env(
            live_server,
            world,
            phantom,
            USERNAME="labeler_a",
            SCREENSHOT=str(shot),
            CAM_SCREENSHOT=str(cam_shot),
        ),  # fmt: skip
        timeout=240,
    )
    assert out["problems"] == []
    assert out["dataset"]["state"] == "complete"
    assert out["dataset"]["metadataSource"] == "quick"  # the result names every slice
    total = len(phantom.case.levels)
    assert out["dataset"]["volumeLoaded"] == f"{total}/{total}"
    assert "L3" in out["levels"] and "T12" in out["levels"]
    assert " L3" in out["sliceInfo"]  # opens at L3
    sagittal = _crop(shot, out["boxes"]["sagittal"])
    bright_fraction, spine_rows = _bone_column(sagittal)
    # Soft-tissue window: bone is white, and a column of it runs most of the height.
    assert 0.005 < bright_fraction < 0.3
    assert spine_rows > 0.5 * sagittal.shape[0] * 0.8
    assert sagittal.std() > 30  # anatomy, not a flat image
    ribbon = _crop(shot, out["boxes"]["ribbon"])
    colours = {tuple(c) for c in ribbon[::4, 10].tolist()}
    saturated = {c for c in colours if max(c) - min(c) > 80}
    assert len(saturated) >= 8  # one colour per level band
    axial_before = _crop(shot, out["boxes"]["axial"])
    axial_cam = _crop(cam_shot, out["boxes"]["axial"])
    warm = (axial_cam[..., 0] > 150) & (axial_cam[..., 2] < 100) & (axial_cam[..., 1] < 200)
    warm_before = (
        (axial_before[..., 0] > 150) & (axial_before[..., 2] < 100) & (axial_before[..., 1] < 200)
    )
    assert warm.sum() > 50 and warm_before.sum() == 0
    assert out["legendShown"]
    assert not out["measure"]["disabled"]
    job = Job.objects.get(series=phantom.series, job_type="measure_body_composition")
    assert f"job #{job.id} queued for L3" in out["measure"]["note"]
    assert [level["level"] for level in job.parameters["levels"]] == ["L3"]
    assert job.parameters["levels"][0]["sop_instance_uids"]  # the mid-slice of L3


def test_viewer_loads_the_series_through_the_edge(
    world: World, phantom: PhantomStudy, edge: Edge
) -> None:
    """As deployed: the browser talks to nginx, which streams the pixels from
    Orthanc once the platform allowed the study; every request is audited."""
    shot = ARTIFACTS / "viewer_edge_sagittal.png"
    out = run_browser_script(
        "viewer_open.mjs",
        {
            **_env(edge, world, phantom),
            "USERNAME": "labeler_a",
            "SCREENSHOT": str(shot),
            "CAM_SCREENSHOT": str(ARTIFACTS / "viewer_edge_cam.png"),
        },
        timeout=240,
    )
    assert out["problems"] == []
    total = len(phantom.case.levels)
    assert out["dataset"]["volumeLoaded"] == f"{total}/{total}"
    _, spine_rows = _bone_column(_crop(shot, out["boxes"]["sagittal"]))
    assert spine_rows > 0.5 * out["boxes"]["sagittal"]["height"] * 0.8
    ship_folder(edge.access_log)
    served = AuditEvent.objects.filter(action=AuditAction.IMAGE_ACCESSED, detail__served_by="edge")
    # The viewer reads whole instances and series for the volume, frames for the axial view.
    assert {e.detail["resource"] for e in served} <= {"series", "instance", "frames"}
    assert {(e.actor_id, e.detail["status"]) for e in served} == {(world.users["labeler"].pk, 200)}
    assert sum(e.detail["bytes"] for e in served) > total * 128 * 128 * 2  # every slice


def test_labeler_corrects_and_reviewer_verifies(
    world: World, phantom: PhantomStudy, live_server: Any
) -> None:
    out = run_browser_script(
        "viewer_label.mjs",
        _env(
            live_server,
            world,
            phantom,
            USERNAME="labeler_a",
            SCREENSHOT=str(ARTIFACTS / "viewer_labeler.png"),
        ),  # fmt: skip
        timeout=240,
    )
    assert out["problems"] == []
    l2, l3 = out["l2"], out["l3"]
    assert out["moveMessage"].startswith("Saved") and "→ L3" in out["moveMessage"]
    assert "as disc" in out["discMessage"] and out["undoMessage"].startswith("Undone")
    assert len(out["history"]) == 3 and "undo" in out["history"][-1]
    track = LabelTrack.objects.get(series=phantom.series, author=world.users["labeler"])
    assert track.labels[l2] == "L3"  # the boundary moved up into L2
    assert track.labels[l3] == "L3" and "disc" not in track.labels  # the disc edit undone

    review = run_browser_script(
        "viewer_review.mjs",
        _env(
            live_server,
            world,
            phantom,
            REVIEWER="reviewer_a",
            LABELER="labeler_a",
            SCREENSHOT=str(ARTIFACTS / "viewer_reviewer.png"),
        ),  # fmt: skip
        timeout=240,
    )
    assert review["problems"] == []
    assert review["before"] == "submitted" and review["labelPanelHidden"]
    locked = review["locked"]
    assert locked["lockShown"] and locked["assignDisabled"]
    assert "verified" in locked["status"]
    assert "&lt;ok&gt;" in locked["comment"]  # the comment shown as text


def test_other_institution_is_refused(world: World, live_server: Any) -> None:
    series = world.objects["series_own"]
    out = run_browser_script(
        "viewer_refused.mjs",
        {
            "BASE_URL": live_server.url,
            "USERNAME": "labeler_b",
            "PASSWORD": factories.PASSWORD,
            "PROJECT_ID": str(world.project.pk),
            "SERIES_ID": str(series.pk),
            "STUDY_UID": series.study.study_instance_uid,
        },
    )
    assert out["pageStatus"] == 404 and not out["viewerPresent"]
    assert out["proxy"]["status"] == 404

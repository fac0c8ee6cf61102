"""Level classification as a platform job, end to end: series uploaded into a
real Orthanc, job sent by name to the `gpu` queue, the ml_worker reads the
pixels over DICOMweb, stores a DICOM SR back, and the platform stores the
result once — also when the worker is killed mid-job."""

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from analysis.models import Job, SeriesLevels
from imaging.models import Series
from ml_worker import registry
from ml_worker.model import ModelConfig, build_model, save_checkpoint
from tests.conftest import World, client_for
from tests.imaging.dicom_samples import ct_series_files
from tests.integration.conftest import Workers, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def model_registry(tmp_path: Path, worker_env: dict[str, str]) -> Path:
    """An (untrained) tiny model registered where the worker looks: the plumbing
    is under test here; accuracy is measured by bench/classify."""
    root = tmp_path / "models"
    checkpoint = save_checkpoint(
        tmp_path / "tiny.pt", build_model(ModelConfig.for_arch("tiny", input_size=64))
    )
    registry.register(root, "spine-levels", checkpoint, metrics={"note": "untrained"})
    worker_env.update(
        {
            "MODEL_REGISTRY_DIR": str(root),
            "MODEL_NAME": "spine-levels",
            "INFERENCE_BATCH_SIZE": "1",
            "CELERY_VISIBILITY_TIMEOUT": "4",
        }
    )
    return root


def _uploaded_series(world: World, tmp_path: Path, slices: int, size: int = 64) -> Series:
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = ct_series_files(tmp_path, slices=slices, size=size)
    payload = {"project": world.project.pk, "files": [SimpleUploadedFile(n, d) for n, d in files]}
    response = client_for(world.users["investigator"]).post(
        "/api/v1/uploads/", payload, format="multipart"
    )
    assert response.status_code == 201, response.content
    return Series.objects.get(study_id=response.json()["studies"][0])


def _start(world: World, series: Series, user: str = "labeler") -> dict[str, Any]:
    response = client_for(world.users[user]).post(
        "/api/v1/jobs/",
        {"project": world.project.pk, "job_type": "classify_levels", "series": series.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _sr_series(image_store: Any, study_uid: str) -> list[dict[str, Any]]:
    session = image_store.session()
    found = session.get(
        f"{image_store.dicomweb_url}/studies/{study_uid}/series",
        headers={"Accept": "application/dicom+json"},
        timeout=30,
    ).json()
    return [s for s in found if s.get("00080060", {}).get("Value") == ["SR"]]


def test_classification_job_end_to_end(
    world: World, image_store: Any, model_registry: Path, workers: Workers, tmp_path: Path
) -> None:
    series = _uploaded_series(world, tmp_path, slices=8)
    job = wait_for(_start(world, series)["id"], {"succeeded", "failed"}, timeout=120)
    assert job.state == "succeeded", (job.error, workers.log("gpu")[-3000:])
    levels = SeriesLevels.objects.get(job=job)
    assert len(levels.slice_levels) == 8 == len(levels.slice_probabilities)
    assert all(abs(sum(p) - 1) < 0.01 for p in levels.slice_probabilities)
    assert levels.cam_shape == [8, 64, 64] and len(bytes(levels.cams)) > 0
    assert levels.model_version == "1" and levels.ranges
    assert (
        set(levels.slice_sop_instance_uids) == set(levels.slice_sop_instance_uids)
        and len(set(levels.slice_sop_instance_uids)) == 8
    )
    assert job.result["series_levels"] == levels.pk and "slices" not in job.result
    srs = _sr_series(image_store, series.study.study_instance_uid)
    assert len(srs) == 1 and levels.sr_sop_instance_uid


def test_non_ct_series_fails_with_a_clear_message(
    world: World, image_store: Any, model_registry: Path, workers: Workers, tmp_path: Path
) -> None:
    series = _uploaded_series(world, tmp_path, slices=2)
    series.series_instance_uid = "1.2.3.4.5"  # a series the store does not hold
    series.save()
    job = wait_for(_start(world, series)["id"], {"succeeded", "failed"}, timeout=120)
    assert job.state == "failed"
    assert "series" in job.error.lower() and "Traceback" not in job.error


def test_killed_worker_job_is_redelivered_and_completes_once(
    world: World, image_store: Any, model_registry: Path, workers: Workers, tmp_path: Path
) -> None:
    series = _uploaded_series(world, tmp_path, slices=60, size=256)
    job_id = _start(world, series)["id"]
    wait_for(job_id, {"running"}, timeout=120)
    workers.procs["gpu"].send_signal(signal.SIGKILL)  # mid-job: no ack was sent
    workers.procs["gpu"].wait()
    assert Job.objects.get(pk=job_id).state == "running"
    time.sleep(1)
    workers.start("gpu")  # restores the unacknowledged task after the visibility timeout
    job = wait_for(job_id, {"succeeded", "failed"}, timeout=180)
    assert job.state == "succeeded", (job.error, workers.log("gpu")[-3000:])
    assert job.attempts == 2
    assert SeriesLevels.objects.filter(series=series).count() == 1
    assert len(_sr_series(image_store, series.study.study_instance_uid)) == 1

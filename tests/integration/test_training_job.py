"""Training as a platform job, end to end: two series uploaded into a real
Orthanc, a dataset version of them, the job sent by name to a real `gpu`
worker that fetches the instances over DICOMweb, trains two epochs of the demo
preset on the manifest's own splits, streams its epochs, registers the model
with the dataset version, and the platform syncs it with its artifacts."""

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from analysis.models import Job
from imaging.dicomweb import image_store as store_client
from imaging.models import Series
from learning.models import DatasetSeries, DatasetVersion, ModelEvaluation, ModelVersion
from ml_worker import registry
from tests.conftest import World, client_for
from tests.imaging.dicom_samples import ct_series_files
from tests.integration.conftest import Workers, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _series(world: World, tmp_path: Path, patient: int) -> tuple[Series, list[str]]:
    files = ct_series_files(tmp_path, patient=patient, slices=4, size=64)
    payload = {"project": world.project.pk, "files": [SimpleUploadedFile(n, d) for n, d in files]}
    response = client_for(world.users["investigator"]).post(
        "/api/v1/uploads/", payload, format="multipart"
    )
    assert response.status_code == 201, response.content[:300]
    series = Series.objects.get(study_id=response.json()["studies"][0])
    uids = sorted(
        store_client().instance_uids(series.study.study_instance_uid, series.series_instance_uid)
    )
    return series, uids


def _dataset(world: World, parts: list[tuple[Series, list[str], str, list[str]]]) -> Any:
    dataset = DatasetVersion.objects.create(
        project=world.project, number=1, val_fraction=0.5, test_fraction=0.0,
        content_sha256="0" * 64,
    )  # fmt: skip
    for series, uids, split, labels in parts:
        DatasetSeries.objects.create(
            dataset=dataset, series=series, study_instance_uid=series.study.study_instance_uid,
            series_instance_uid=series.series_instance_uid, institution_id=world.inst_a.pk,
            institution_code="A", split=split, scheme="fine", labels=labels,
            sop_instance_uids=uids, track_id=1, track_revision=1, labeler="labeler_a",
            reviewer="reviewer_a", verified_at=timezone.now(),
        )  # fmt: skip
    return dataset


def test_training_job_end_to_end(
    world: World, image_store: Any, workers: Workers, worker_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "models"
    worker_env["MODEL_REGISTRY_DIR"] = str(root)
    workers.procs.pop("gpu").kill()  # restart it with the test's registry
    workers.start("gpu")
    train_series, train_uids = _series(world, tmp_path, 1)
    val_series, val_uids = _series(world, tmp_path, 2)
    dataset = _dataset(
        world,
        [
            (train_series, train_uids, "train", ["L2", "L3", "L3", "L2"]),
            (val_series, val_uids, "validation", ["L3", "L2", "L2", "L3"]),
        ],
    )
    # Two epochs: the first epoch's report stays the job's message while the
    # second trains, long enough to be seen by polling.
    parameters = {"dataset": dataset.pk, "epochs": 2, "samples_per_epoch": 16}
    response = client_for(world.users["project_admin"]).post(
        "/api/v1/jobs/",
        {"project": world.project.pk, "job_type": "train_classifier", "parameters": parameters},
        format="json",
    )
    assert response.status_code == 201, response.content
    messages, deadline = set(), time.monotonic() + 120
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=response.json()["id"])
        messages.add(job.message)
        if job.is_terminal:
            break
        time.sleep(0.05)
    assert job.state == "succeeded", (job.error, workers.log("gpu")[-3000:])
    assert any(m.startswith("epoch 1/2 · loss") for m in messages), messages

    tag = f"{world.project.slug}:v1"
    record = registry.list_versions(root, "spine-levels")[-1]
    assert record.training_data["dataset_version"] == tag
    assert not (root / "spine-levels" / "current.json").exists()  # the platform promotes
    model = ModelVersion.objects.get(name="spine-levels", version=record.version)
    assert model.training_dataset == dataset and model.sha256 == record.sha256
    assert set(model.metrics_per_class) == {"L2", "L3"}
    evaluation = ModelEvaluation.objects.get(job=job)
    assert evaluation.main_set == "val" and set(evaluation.per_centre) == {"A"}
    assert model.status == ("evaluated" if evaluation.passed else "failed")
    names = set(evaluation.artifacts.values_list("name", flat=True))
    assert {"history.png", "history.json", "val_confusion.png", "val_per_class.json"} <= names
    png = client_for(world.users["viewer"]).get(
        f"/api/v1/evaluations/{evaluation.pk}/artifacts/history.png"
    )
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert job.result["model"]["version"] == record.version and "artifacts" in job.result

    # Evaluation of the new version on the same dataset: cached instances, the
    # validation split (no test split, no held-out centre), a second evaluation.
    response = client_for(world.users["project_admin"]).post(
        "/api/v1/jobs/",
        {
            "project": world.project.pk,
            "job_type": "evaluate_classifier",
            "parameters": {"dataset": dataset.pk, "model": model.pk},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    job = wait_for(response.json()["id"], {"succeeded", "failed"}, timeout=90)
    assert job.state == "succeeded", (job.error, workers.log("gpu")[-3000:])
    second = ModelEvaluation.objects.get(job=job)
    assert second.kind == "evaluation" and second.accuracy == evaluation.accuracy
    assert "val_confusion.png" in set(second.artifacts.values_list("name", flat=True))

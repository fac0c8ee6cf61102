"""Building blocks of the learning-loop tests: verified series, model versions
and a frozen dataset made directly (for the permission matrix)."""

from typing import Any

from annotations import services as label_services
from learning.models import DatasetVersion, ModelStatus, ModelVersion
from tests import factories
from tests.annotations.helpers import classify
from tests.conftest import World

LEVELS = ["T12", "disc", "L1", "L2", "L3", "L3"]


def new_series(world: World, inst: Any, pseudonym: str = "") -> Any:
    study = factories.StudyFactory(project=world.project, institution=inst)
    if pseudonym:
        study.patient_pseudonym = pseudonym
        study.save()
    return factories.SeriesFactory(study=study)


def labeler_of(world: World, series: Any) -> Any:
    if series.study.institution_id == world.inst_a.pk:
        return world.users["labeler"]
    return world.objects["membership_b"].user


def submitted(
    world: World, series: Any, levels: list[str | None] | None = None, *, edit: bool = False
) -> Any:
    """A series classified and submitted by a labeler of its hospital; with
    `edit`, the labeler first relabels slice 0 as T11."""
    classify(world, series, list(levels or LEVELS))
    user = labeler_of(world, series)
    if edit:
        label_services.labels_edit(
            series=series, user=user, base_revision=0, start=0, end=0, label="T11"
        )
    return label_services.labels_submit(series=series, user=user, comment="")


def verified(world: World, series: Any, levels: list[str | None] | None = None) -> Any:
    submitted(world, series, levels)
    return label_services.labels_review(
        series=series, user=world.users["reviewer"], decision="verify", track_id=None
    )


def model_version(
    version: str = "1",
    status: str = ModelStatus.EVALUATED,
    metrics: dict[str, Any] | None = None,
) -> ModelVersion:
    if metrics is None:
        metrics = {"val_accuracy": 0.9, "per_class_accuracy": {"L3": 0.95}}
    return ModelVersion.objects.create(
        name="spine-levels",
        version=version,
        sha256=f"{int(version):064d}",
        status=status,
        metrics=metrics,
        metrics_per_class=metrics.get("per_class_accuracy", {}),
    )


def frozen_dataset(world: World) -> DatasetVersion:
    return DatasetVersion.objects.create(
        project=world.project,
        number=1,
        val_fraction=0.15,
        test_fraction=0.15,
        content_sha256="0" * 64,
    )


def dataset_with_rows(
    world: World, rows: list[tuple[str, list[str | None]]], number: int = 1, centre: Any = None
) -> DatasetVersion:
    """A frozen version with one series per (split, labels) row, made directly."""
    from django.utils import timezone

    from learning.models import DatasetSeries

    dataset = DatasetVersion.objects.create(
        project=world.project, number=number, val_fraction=0.2, test_fraction=0.2,
        content_sha256="0" * 64,
    )  # fmt: skip
    inst = centre or world.inst_a
    for i, (split, labels) in enumerate(rows):
        series = new_series(world, inst)
        DatasetSeries.objects.create(
            dataset=dataset, series=series, study_instance_uid=series.study.study_instance_uid,
            series_instance_uid=series.series_instance_uid, institution_id=inst.pk,
            institution_code=inst.code, split=split, scheme="fine", labels=labels,
            sop_instance_uids=[f"2.25.{number}{i}{j}" for j in range(len(labels))],
            track_id=1, track_revision=1, labeler="l", reviewer="r", verified_at=timezone.now(),
        )  # fmt: skip
    return dataset


def evaluation_result(
    model: ModelVersion, accuracy: float, per_class: dict[str, float], centre_b: float = 0.9
) -> dict[str, Any]:
    """A worker's classifier-evaluation/1 result, as ml_worker/training/job.py builds it."""
    import base64

    rows = [
        {"class": k, "slices": 10, "correct": round(10 * v), "wrong": 10 - round(10 * v),
         "accuracy": v}
        for k, v in per_class.items()
    ]  # fmt: skip
    report = {"slices": 10 * len(rows), "correct": sum(r["correct"] for r in rows),
              "accuracy": accuracy, "per_class": rows, "per_centre": {}}  # fmt: skip
    return {
        "schema": "classifier-evaluation/1",
        "dataset_version": "x:v1",
        "model": {"name": model.name, "version": model.version, "sha256": model.sha256},
        "reports": {"test": report},
        "per_centre": {
            "A": {
                "set": "test",
                "slices": 20,
                "accuracy": accuracy,
                "per_class_accuracy": per_class,
            },
            "B": {
                "set": "external",
                "slices": 20,
                "accuracy": centre_b,
                "per_class_accuracy": dict.fromkeys(per_class, centre_b),
            },
        },  # fmt: skip
        "artifacts": [
            {
                "name": "test_confusion.png",
                "content_type": "image/png",
                "data": base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode(),
            },
            {
                "name": "test_per_class.json",
                "content_type": "application/json",
                "data": base64.b64encode(b'{"accuracy": 1}').decode(),
            },
        ],  # fmt: skip
    }


def stored_evaluation(world: World, model: ModelVersion, dataset: DatasetVersion) -> Any:
    """An evaluation with a history.png artifact, made directly."""
    from learning.models import EvaluationArtifact, ModelEvaluation

    evaluation = ModelEvaluation.objects.create(
        project=world.project,
        model_version=model,
        dataset=dataset,
        kind="evaluation",
        main_set="test",
        accuracy=0.9,
        per_class={"L3": 0.9},
        passed=True,
    )
    EvaluationArtifact.objects.create(
        evaluation=evaluation, name="history.png", content_type="image/png", data=b"\x89PNG"
    )
    return evaluation

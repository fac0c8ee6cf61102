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

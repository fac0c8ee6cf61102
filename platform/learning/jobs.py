"""Starting training and evaluation jobs: the parameters the worker gets,
checked before a job is queued (bad input is a 400, never a failed job), and
the dataset version's manifest rows sent with the task (not stored on the Job)."""

from collections import Counter
from typing import Any

from annotations.vocabulary import FINE_LEVELS
from core.errors import ApplicationError
from imaging.models import Series
from learning.datasets import MANIFEST_COLUMNS, manifest_rows
from learning.models import DatasetSeries, DatasetVersion, ModelStatus, ModelVersion, Split
from projects.models import ResearchProject

PRESETS = ("demo", "reference")
MAX_EPOCHS = 300


def dataset_tag(dataset: DatasetVersion) -> str:
    """How a registry record names its training data ("<project slug>:v<n>")."""
    return f"{dataset.project.slug}:v{dataset.number}"


def _dataset(project: ResearchProject, parameters: dict[str, Any]) -> DatasetVersion:
    raw = parameters.get("dataset")
    dataset = (
        DatasetVersion.objects.select_related("project").filter(pk=raw, project=project).first()
        if isinstance(raw, int) and not isinstance(raw, bool)
        else None
    )
    if dataset is None:
        raise ApplicationError(
            "parameters.dataset must name a dataset version of this project.",
            extra={"dataset": raw},
        )
    return dataset


def _int(parameters: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = parameters.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ApplicationError(f"parameters.{key} must be an integer from {low} to {high}.")
    return value


def fine_counts(dataset: DatasetVersion) -> dict[str, Counter[str]]:
    """Slices per fine level in each split (coarse and disc labels name no one level)."""
    counts: dict[str, Counter[str]] = {}
    for split, labels in DatasetSeries.objects.filter(dataset=dataset).values_list(
        "split", "labels"
    ):
        counts.setdefault(split, Counter()).update(lb for lb in labels if lb in FINE_LEVELS)
    return counts


def _labelled(dataset: DatasetVersion, split: str) -> int:
    rows = DatasetSeries.objects.filter(dataset=dataset, split=split).values_list("labels", flat=1)
    return sum(1 for labels in rows for lb in labels if lb not in (None, "disc"))


def training_parameters(
    *, project: ResearchProject, series: Series | None, parameters: dict[str, Any]
) -> dict[str, Any]:
    """Refuse (400) a dataset the model cannot learn from: no labelled train or
    validation slices, or a level (seen in any split, or asked for in
    parameters.levels) with no training slice."""
    dataset = _dataset(project, parameters)
    preset = parameters.get("preset", "demo")
    if preset not in PRESETS:
        raise ApplicationError(f"parameters.preset must be one of {list(PRESETS)}.")
    epochs = _int(parameters, "epochs", 1, MAX_EPOCHS)
    samples = _int(parameters, "samples_per_epoch", 16, 1_000_000)
    requested = parameters.get("levels") or []
    if not isinstance(requested, list) or not set(requested) <= set(FINE_LEVELS):
        raise ApplicationError(
            "parameters.levels must list fine levels.", extra={"levels": list(FINE_LEVELS)}
        )
    name = f"Dataset v{dataset.number}"
    if not _labelled(dataset, Split.TRAIN):
        raise ApplicationError(f"{name} has an empty train split: nothing to train on.")
    if not _labelled(dataset, Split.VALIDATION):
        raise ApplicationError(
            f"{name} has no labelled validation slices to choose the best epoch by; "
            "freeze a version with a larger val_fraction."
        )
    counts = fine_counts(dataset)
    needed = set(requested).union(*(c.keys() for c in counts.values()))
    train = counts.get(Split.TRAIN, Counter())
    missing = [lv for lv in FINE_LEVELS if lv in needed and not train[lv]]
    if missing:
        raise ApplicationError(
            f"{name} is missing classes: its train split has no slice of {', '.join(missing)}. "
            "Verify series that show them, or freeze a version that has them.",
            extra={"missing_levels": missing},
        )
    out: dict[str, Any] = {"dataset": dataset.pk, "dataset_version": dataset_tag(dataset)}
    out["preset"] = preset
    if epochs is not None:
        out["epochs"] = epochs
    if samples is not None:
        out["samples_per_epoch"] = samples
    return out


def evaluation_parameters(
    *, project: ResearchProject, series: Series | None, parameters: dict[str, Any]
) -> dict[str, Any]:
    """Any synced model version on any dataset version of the project that
    has labelled test, external or validation slices."""
    dataset = _dataset(project, parameters)
    raw = parameters.get("model")
    model = (
        ModelVersion.objects.filter(pk=raw).first()
        if isinstance(raw, int) and not isinstance(raw, bool)
        else None
    )
    if model is None or model.status == ModelStatus.RETIRED:
        raise ApplicationError(
            "parameters.model must name a registered, not retired model version.",
            extra={"model": raw},
        )
    splits = (Split.TEST, Split.EXTERNAL, Split.VALIDATION)
    if not any(_labelled(dataset, split) for split in splits):
        raise ApplicationError(
            f"Dataset v{dataset.number} has no labelled test, held-out or validation slices."
        )
    return {
        "dataset": dataset.pk,
        "dataset_version": dataset_tag(dataset),
        "model": model.pk,
        "model_name": model.name,
        "model_version": model.version,
    }


def dataset_payload(parameters: dict[str, Any]) -> dict[str, Any]:
    """The task's `data` argument: the manifest rows (datasets.MANIFEST_COLUMNS)."""
    dataset = DatasetVersion.objects.select_related("project").get(pk=parameters["dataset"])
    return {"data": {"columns": MANIFEST_COLUMNS, "rows": list(manifest_rows(dataset))}}

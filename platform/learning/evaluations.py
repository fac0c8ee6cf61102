"""Storing what training and evaluation jobs return (schemas
"classifier-training/1" and "classifier-evaluation/1", ml_worker/training/job.py):
the registered version synced into ModelVersion, one ModelEvaluation per job
with its verdict against the thresholds, and the PNG/JSON artifacts.

A version whose newest evaluation fails gets status failed, which promotion
refuses; one that passes again becomes evaluated. Promoted and retired
versions keep their status (the report page shows the failure)."""

import base64
import binascii
import re
from typing import Any

from django.conf import settings

from analysis.models import Job
from core.errors import ApplicationError
from learning.models import (
    DatasetVersion,
    EvaluationArtifact,
    EvaluationKind,
    ModelEvaluation,
    ModelStatus,
    ModelVersion,
)
from learning.registry import model_version_upsert, status_from_metrics

TRAINING_SCHEMA = "classifier-training/1"
EVALUATION_SCHEMA = "classifier-evaluation/1"
ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}\.(png|json)$")
ARTIFACT_TYPES = {"png": "image/png", "json": "application/json"}
MAX_ARTIFACT_BYTES = 4 * 2**20


def thresholds() -> dict[str, float]:
    return {
        "min_accuracy": settings.LEARNING_MIN_ACCURACY,
        "min_level_accuracy": settings.LEARNING_MIN_LEVEL_ACCURACY,
    }


def verdict(
    accuracy: float | None, per_class: dict[str, float], per_centre: dict[str, Any]
) -> tuple[bool, list[str]]:
    """Pass when the main set's accuracy, each held-out centre's accuracy and
    every level's accuracy reach the thresholds; the reasons say what did not."""
    limits = thresholds()
    reasons = []
    if accuracy is None or accuracy < limits["min_accuracy"]:
        reasons.append(f"accuracy {_pct(accuracy)} below {_pct(limits['min_accuracy'])}")
    for centre, row in sorted(per_centre.items()):
        if row.get("set") == "external" and row.get("accuracy", 0) < limits["min_accuracy"]:
            reasons.append(f"held-out centre {centre}: accuracy {_pct(row.get('accuracy'))}")
    weak = [f"{lv} {_pct(a)}" for lv, a in per_class.items() if a < limits["min_level_accuracy"]]
    if weak:
        reasons.append(f"levels below {_pct(limits['min_level_accuracy'])}: " + ", ".join(weak))
    return not reasons, reasons


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _main_set(reports: dict[str, Any]) -> str:
    return next((s for s in ("test", "val") if s in reports), "")


def _store(
    job: Job, result: dict[str, Any], model: ModelVersion, kind: EvaluationKind
) -> ModelEvaluation:
    reports = dict(result.get("reports") or {})
    main = _main_set(reports)
    accuracy = reports[main]["accuracy"] if main else None
    per_class = (
        {row["class"]: round(float(row["accuracy"]), 4) for row in reports[main]["per_class"]}
        if main
        else {}
    )
    if accuracy is None:  # only held-out centres: judge by their pooled slices
        total = sum(r["slices"] for r in reports.values())
        accuracy = sum(r["correct"] for r in reports.values()) / total if total else None
    per_centre = dict(result.get("per_centre") or (model.metrics.get("per_centre") or {}))
    passed, reasons = verdict(accuracy, per_class, per_centre)
    dataset = DatasetVersion.objects.filter(pk=job.parameters.get("dataset")).first()
    evaluation = ModelEvaluation.objects.create(
        project_id=job.project_id,
        model_version=model,
        dataset=dataset,
        job=job,
        kind=kind,
        main_set=main or "external",
        accuracy=accuracy,
        per_class=per_class,
        per_centre=per_centre,
        reports=reports,
        passed=passed,
        thresholds=thresholds(),
        reasons=reasons,
    )
    _store_artifacts(evaluation, result.get("artifacts") or [])
    if model.status not in (ModelStatus.PROMOTED, ModelStatus.RETIRED):
        model.status = ModelStatus.FAILED if not passed else status_from_metrics(model.metrics)
        if passed and model.status == ModelStatus.CANDIDATE:
            model.status = ModelStatus.EVALUATED
        model.save(update_fields=["status", "synced_at"])
    return evaluation


def _store_artifacts(evaluation: ModelEvaluation, artifacts: list[dict[str, Any]]) -> None:
    for item in artifacts:
        name = str(item.get("name", ""))
        match = ARTIFACT_NAME.match(name)
        if match is None:
            raise ApplicationError(f"Unexpected artifact name {name[:100]!r}.")
        try:
            data = base64.b64decode(str(item.get("data", "")), validate=True)
        except binascii.Error as exc:
            raise ApplicationError(f"Corrupt artifact {name}.") from exc
        if len(data) > MAX_ARTIFACT_BYTES:
            raise ApplicationError(f"Artifact {name} is too large.")
        EvaluationArtifact.objects.create(
            evaluation=evaluation, name=name, content_type=ARTIFACT_TYPES[match[1]], data=data
        )


def _summary(evaluation: ModelEvaluation, model: ModelVersion) -> dict[str, Any]:
    return {
        "model": {"id": model.pk, "name": model.name, "version": model.version},
        "evaluation": evaluation.pk,
        "dataset_version": evaluation.dataset_id,
        "accuracy": evaluation.accuracy,
        "passed": evaluation.passed,
        "reasons": evaluation.reasons,
        "status": model.status,
        "artifacts": list(evaluation.artifacts.values_list("name", flat=True)),
    }


def training_store(job: Job, result: dict[str, Any]) -> dict[str, Any]:
    """Sync the newly registered version (from its record in the result, so no
    shared disk is needed), link its dataset version and judge its test sets."""
    if result.get("schema") != TRAINING_SCHEMA:
        raise ApplicationError("Unexpected training result schema.")
    model, _ = model_version_upsert(dict(result["record"]))
    evaluation = _store(job, result, model, EvaluationKind.TRAINING)
    summary = _summary(evaluation, model)
    summary["schema"] = TRAINING_SCHEMA
    summary["epochs"] = len(result.get("history") or [])
    return summary


def evaluation_store(job: Job, result: dict[str, Any]) -> dict[str, Any]:
    if result.get("schema") != EVALUATION_SCHEMA:
        raise ApplicationError("Unexpected evaluation result schema.")
    model = ModelVersion.objects.filter(pk=job.parameters.get("model")).first()
    if model is None or model.version != str(result["model"]["version"]):
        raise ApplicationError("The evaluated model version is not the one asked for.")
    evaluation = _store(job, result, model, EvaluationKind.EVALUATION)
    return {**_summary(evaluation, model), "schema": EVALUATION_SCHEMA}

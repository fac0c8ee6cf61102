"""The platform's view of the file model registry, and per-project promotion.

Sync reads the registry's on-disk records (ml_worker.registry's layout:
<root>/<name>/<version>/model.json) as plain JSON: the platform never imports
ml_worker, and a test keeps the two in step. Promotion is an append-only log
per project; rollback re-promotes the entry that stood before the current one."""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.dateparse import parse_datetime

from audit.models import AuditAction
from audit.services import audit_record
from core.errors import ApplicationError, Conflict
from learning.models import (
    DatasetVersion,
    ModelPromotion,
    ModelStatus,
    ModelVersion,
    PromotionAction,
)
from projects.models import ResearchProject

logger = logging.getLogger(__name__)
RECORD_FILE = "model.json"  # ml_worker.registry.RECORD_FILE


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def read_registry(root: Path, name: str) -> list[dict[str, Any]]:
    """The records of every version of `name`, oldest version first."""
    base = Path(root) / name
    if not base.is_dir():
        return []
    records = []
    for folder in base.iterdir():
        path = folder / RECORD_FILE
        if path.is_file():
            records.append(json.loads(path.read_text()))
    return sorted(records, key=lambda r: int(r["version"]) if r["version"].isdigit() else 0)


def status_from_metrics(metrics: dict[str, Any]) -> ModelStatus:
    """What a registry record's metrics say: failed when its evaluation failed
    (an explicit failure or an "evaluation" block with passed false), evaluated
    when it holds accuracies, else a candidate."""
    evaluation = metrics.get("evaluation") or {}
    if metrics.get("failed") or evaluation.get("passed") is False:
        return ModelStatus.FAILED
    if any(k in metrics for k in ("val_accuracy", "test_accuracy", "per_class_accuracy")):
        return ModelStatus.EVALUATED
    return ModelStatus.CANDIDATE


def _dataset_of(training_data: dict[str, Any]) -> DatasetVersion | None:
    """The dataset version a training run names as "<project slug>:v<number>"."""
    tag = str(training_data.get("dataset_version") or "")
    slug, _, number = tag.partition(":v")
    if not slug or not number.isdigit():
        return None
    return DatasetVersion.objects.filter(project__slug=slug, number=int(number)).first()


@transaction.atomic
def model_versions_sync(*, root: Path, name: str) -> SyncReport:
    """Create or refresh a ModelVersion per registry record. Idempotent; the
    platform's own states (promoted, retired, failed by its evaluation) are kept."""
    report = SyncReport()
    for record in read_registry(root, name):
        label = f"{record.get('name')} {record.get('version')}"
        try:
            _, created = model_version_upsert(record)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("registry record %s unreadable: %s", label, exc)
            report.invalid.append(label)
            continue
        (report.created if created else report.updated).append(label)
    return report


def model_version_upsert(record: dict[str, Any]) -> tuple[ModelVersion, bool]:
    """The ModelVersion of one registry record (created or refreshed), and
    whether it was created. Raises KeyError/TypeError/ValueError on a bad record."""
    fields = _fields(record)
    existing = ModelVersion.objects.filter(name=record["name"], version=record["version"])
    model = existing.select_for_update().first()
    if model is None:
        model = ModelVersion.objects.create(
            name=record["name"], version=record["version"], **fields
        )
        return model, True
    latest = model.evaluations.order_by("-created_at", "-id").first()
    if model.status in (ModelStatus.PROMOTED, ModelStatus.RETIRED) or (
        latest is not None and not latest.passed
    ):
        fields.pop("status")
    for key, value in fields.items():
        setattr(model, key, value)
    model.save()
    return model, False


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    metrics = dict(record.get("metrics") or {})
    training_data = dict(record.get("training_data") or {})
    registered = parse_datetime(str(record.get("created_at") or ""))
    return {
        "sha256": str(record["sha256"]),
        "code_version": str(record.get("code_version") or "")[:64],
        "config": dict(record.get("config") or {}),
        "metrics": metrics,
        "metrics_per_class": dict(metrics.get("per_class_accuracy") or {}),
        "metrics_per_centre": dict(metrics.get("external_accuracy") or {}),
        "training_data": training_data,
        "training_dataset": _dataset_of(training_data),
        "status": status_from_metrics(metrics),
        "registered_at": registered if isinstance(registered, datetime) else None,
    }


def promotion_current(*, project_id: int) -> ModelPromotion | None:
    return (
        ModelPromotion.objects.filter(project_id=project_id)
        .select_related("model_version", "previous__model_version")
        .order_by("-created_at", "-id")
        .first()
    )


def _refusal(model: ModelVersion) -> str | None:
    if model.status == ModelStatus.FAILED:
        return f"{model.name} {model.version} failed evaluation and cannot be promoted."
    if model.status == ModelStatus.RETIRED:
        return f"{model.name} {model.version} is retired and cannot be promoted."
    measured = model.metrics_per_class or model.metrics.get("val_accuracy")
    if not measured and not model.evaluations.filter(passed=True).exists():
        return (
            f"{model.name} {model.version} has no evaluation metrics; "
            "evaluate it before promoting it."
        )
    return None


def _refresh_status(models: list[ModelVersion]) -> None:
    """A version is promoted while some project's newest promotion names it."""
    current_ids = {
        p.model_version_id
        for p in (
            promotion_current(project_id=pid)
            for pid in ModelPromotion.objects.values_list("project_id", flat=True).distinct()
        )
        if p is not None
    }
    for model in models:
        if model.status == ModelStatus.RETIRED:
            continue
        promoted = model.pk in current_ids
        new = ModelStatus.PROMOTED if promoted else status_from_metrics(model.metrics)
        if new != model.status:
            model.status = new
            model.save(update_fields=["status", "synced_at"])


def _record(
    project: ResearchProject,
    model: ModelVersion,
    action: PromotionAction,
    previous: ModelPromotion | None,
    user: Any,
    comment: str,
    request: HttpRequest | None,
) -> ModelPromotion:
    promotion = ModelPromotion.objects.create(
        project=project,
        model_version=model,
        action=action,
        previous=previous,
        actor=user,
        comment=comment,
    )
    audit_record(
        action=AuditAction.MODEL_PROMOTED
        if action == PromotionAction.PROMOTE
        else AuditAction.MODEL_ROLLED_BACK,
        actor=user,
        obj=promotion,
        project_id=project.pk,
        request=request,
        detail={"model": model.name, "version": model.version},
    )
    return promotion


@transaction.atomic
def model_promote(
    *,
    project: ResearchProject,
    model: ModelVersion,
    user: Any,
    comment: str = "",
    request: HttpRequest | None = None,
) -> ModelPromotion:
    """Make `model` the project's classification model. Refuses (400) a
    version that failed evaluation, is retired or has no metrics."""
    ResearchProject.objects.select_for_update().filter(pk=project.pk).first()
    refusal = _refusal(model)
    if refusal:
        raise ApplicationError(refusal, extra={"status": model.status})
    current = promotion_current(project_id=project.pk)
    if current is not None and current.model_version_id == model.pk:
        raise Conflict(f"{model.name} {model.version} is already the promoted version.")
    promotion = _record(project, model, PromotionAction.PROMOTE, current, user, comment, request)
    _refresh_status([model, *([current.model_version] if current else [])])
    return promotion


@transaction.atomic
def model_rollback(
    *, project: ResearchProject, user: Any, request: HttpRequest | None = None
) -> ModelPromotion:
    """Re-promote the version that stood before the current one (409 if none)."""
    ResearchProject.objects.select_for_update().filter(pk=project.pk).first()
    current = promotion_current(project_id=project.pk)
    if current is None or current.previous is None:
        raise Conflict("There is no earlier promoted version to roll back to.")
    target = current.previous
    refusal = _refusal(target.model_version)
    if refusal:
        raise ApplicationError(refusal, extra={"status": target.model_version.status})
    promotion = _record(
        project,
        target.model_version,
        PromotionAction.ROLLBACK,
        target.previous,
        user,
        f"rolled back from {current.model_version.name} {current.model_version.version}",
        request,
    )
    _refresh_status([current.model_version, target.model_version])
    return promotion

"""The per-centre report: accuracy per level and per centre, side by side,
for the project's promoted model and a candidate, on one dataset version
(their newest evaluation there: a training job's own or an evaluation job's)."""

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from annotations.vocabulary import REPORT_ORDER
from audit.models import AuditAction
from audit.services import audit_record
from learning.models import DatasetVersion, ModelEvaluation, ModelVersion
from learning.registry import promotion_current
from projects.models import ResearchProject

ALL = "all centres"


@dataclass
class Report:
    dataset: DatasetVersion | None
    promoted: ModelVersion | None
    candidate: ModelVersion | None
    promoted_eval: ModelEvaluation | None
    candidate_eval: ModelEvaluation | None
    scopes: list[str] = field(default_factory=list)  # ALL, then centres
    rows: list[dict[str, Any]] = field(default_factory=list)  # level, cells per scope


def _latest(
    project: ResearchProject, model: ModelVersion | None, dataset: DatasetVersion | None
) -> ModelEvaluation | None:
    if model is None:
        return None
    qs = ModelEvaluation.objects.filter(project=project, model_version=model)
    if dataset is not None:
        qs = qs.filter(dataset=dataset)
    return qs.order_by("-created_at", "-id").first()


def candidates(project: ResearchProject) -> list[ModelVersion]:
    """Versions evaluated in this project, newest first."""
    ids = ModelEvaluation.objects.filter(project=project).values("model_version_id")
    return list(ModelVersion.objects.filter(pk__in=ids).order_by("-registered_at", "-id"))


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def build_report(
    *, project: ResearchProject, dataset_id: str | None, candidate_id: str | None
) -> Report:
    """Unknown or foreign ids fall back to the defaults: the dataset of the
    newest evaluation, and the newest evaluated version that is not promoted."""
    current = promotion_current(project_id=project.pk)
    promoted = current.model_version if current else None
    datasets = DatasetVersion.objects.filter(project=project)
    dataset = datasets.filter(pk=_int(dataset_id)).first() if _int(dataset_id) else None
    if dataset is None:
        newest = ModelEvaluation.objects.filter(project=project, dataset__isnull=False).first()
        dataset = newest.dataset if newest else None
    pool = [m for m in candidates(project) if promoted is None or m.pk != promoted.pk]
    candidate = next((m for m in pool if m.pk == _int(candidate_id)), None)
    if candidate is None:
        candidate = next((m for m in pool if _latest(project, m, dataset)), None)
    report = Report(
        dataset,
        promoted,
        candidate,
        _latest(project, promoted, dataset),
        _latest(project, candidate, dataset),
    )
    _fill(report)
    return report


def _cells(evaluation: ModelEvaluation | None, scope: str) -> tuple[dict[str, float], Any]:
    """(per-level accuracy, overall accuracy) of an evaluation in one scope."""
    if evaluation is None:
        return {}, None
    if scope == ALL:
        return dict(evaluation.per_class), evaluation.accuracy
    row = evaluation.per_centre.get(scope) or {}
    return dict(row.get("per_class_accuracy") or {}), row.get("accuracy")


def _fill(report: Report) -> None:
    evals = [e for e in (report.promoted_eval, report.candidate_eval) if e is not None]
    centres = sorted({c for e in evals for c in e.per_centre})
    report.scopes = [ALL, *centres]
    table = {s: [_cells(report.promoted_eval, s), _cells(report.candidate_eval, s)]
             for s in report.scopes}  # fmt: skip
    levels = {lv for cells in table.values() for per_level, _ in cells for lv in per_level}
    order = [lv for lv in REPORT_ORDER if lv in levels] + sorted(levels - set(REPORT_ORDER))
    for level in order:
        report.rows.append(
            {
                "level": level,
                "cells": [
                    (s, *(per_level.get(level) for per_level, _ in table[s])) for s in report.scopes
                ],
            }  # fmt: skip
        )
    report.rows.append(
        {
            "level": "All levels",
            "cells": [(s, *(overall for _, overall in table[s])) for s in report.scopes],
        }  # fmt: skip
    )


def _label(model: ModelVersion | None) -> str:
    text = f"{model.name} v{model.version}" if model else "none"
    return "'" + text if text[:1] in "=+-@" else text  # no spreadsheet formulas


def report_csv(
    *, project: ResearchProject, report: Report, user: Any, request: HttpRequest | None = None
) -> str:
    """The table in long form (one row per centre and level); audited."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["dataset_version", "centre", "set", "level", "promoted", "promoted_accuracy",
                     "candidate", "candidate_accuracy"])  # fmt: skip
    tag = f"v{report.dataset.number}" if report.dataset else ""
    sets = {
        s: (report.candidate_eval or report.promoted_eval).per_centre.get(s, {}).get("set", "")
        if s != ALL and (report.candidate_eval or report.promoted_eval)
        else "test"
        for s in report.scopes
    }
    for row in report.rows:
        for scope, promoted, candidate in row["cells"]:
            writer.writerow(
                [
                    tag,
                    scope,
                    sets[scope],
                    row["level"],
                    _label(report.promoted),
                    _fmt(promoted),
                    _label(report.candidate),
                    _fmt(candidate),
                ]  # fmt: skip
            )
    audit_record(
        action=AuditAction.DATA_DOWNLOADED,
        actor=user,
        obj=report.dataset or project,
        project_id=project.pk,
        request=request,
        detail={
            "export": "model_report",
            "promoted": _label(report.promoted),
            "candidate": _label(report.candidate),
        },
    )
    return buffer.getvalue()


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"

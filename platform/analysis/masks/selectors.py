"""Reads of measurement masks for the viewer. Masks are pixels: besides seeing
the measurement (VIEW_RESULTS in the series' scope, else 404) the reader
needs VIEW_IMAGES for the series' project and institution (else 403)."""

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from analysis.bodycomp.selectors import measurement_list
from analysis.models import BodyCompositionMeasurement, Job
from core.errors import NotFound
from imaging.models import Series
from projects.access import require, user_can
from projects.roles import Capability

ENCODING = "zlib+base64:uint8-labelmap"
LABELS = {"1": "muscle", "2": "imat", "3": "sat", "4": "vat"}
VALUES = (
    "muscle_area_cm2",
    "imat_area_cm2",
    "sat_area_cm2",
    "vat_area_cm2",
    "muscle_density_hu",
    "smi_cm2_m2",
    "vat_sat_ratio",
)


def measurement_for_masks(
    *, user: Any, measurement_id: int, capability: Capability | None = None
) -> BodyCompositionMeasurement:
    row = (
        measurement_list(user=user)
        .defer(None)
        .select_related("remeasure_job", "corrected_by", "mask_review_by")
        .filter(pk=measurement_id)
        .first()
    )
    if row is None:
        raise NotFound("Not found.")
    if capability is not None:
        require_on_series(user, capability, row.series)
    return row


def require_on_series(user: Any, capability: Capability, series: Series) -> None:
    require(
        user,
        capability,
        project_id=series.study.project_id,
        institution_id=series.study.institution_id,
    )


def latest_for_series(series: Series) -> QuerySet[BodyCompositionMeasurement]:
    """The newest job's row per level of the series."""
    newer = BodyCompositionMeasurement.objects.filter(
        series_id=OuterRef("series_id"), level=OuterRef("level"), job_id__gt=OuterRef("job_id")
    )
    return (
        BodyCompositionMeasurement.objects.filter(series=series)
        .exclude(Exists(newer))
        .select_related("series__study", "remeasure_job", "corrected_by", "mask_review_by")
        .order_by("level")
    )


def permissions(user: Any, series: Series) -> dict[str, bool]:
    scope = {"project_id": series.study.project_id, "institution_id": series.study.institution_id}
    return {
        "label": user_can(user, Capability.LABEL, **scope),
        "review": user_can(user, Capability.REVIEW, **scope),
        "view_images": user_can(user, Capability.VIEW_IMAGES, **scope),
    }


def _name(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def mask_data(row: BodyCompositionMeasurement) -> dict[str, Any]:
    job: Job | None = row.remeasure_job
    return {
        "id": row.pk,
        "level": row.level,
        "status": row.status,
        "issues": row.issues,
        "values": {key: getattr(row, key) for key in VALUES},
        "method": row.method,
        "model_version": row.model_version,
        "mask_source": row.mask_source,
        "revision": row.mask_revision,
        "measured_revision": row.measured_revision,
        "corrected_by": _name(row.corrected_by),
        "corrected_at": row.corrected_at,
        "remeasure": None
        if job is None
        else {"job": job.pk, "state": job.state, "error": job.error},
        "review": {
            "status": row.mask_review_status,
            "by": _name(row.mask_review_by),
            "at": row.mask_review_at,
            "comment": row.mask_review_comment,
        },
        "locked": row.mask_review_status == "verified",
        "slices": [
            {"sop_instance_uid": s["sop_instance_uid"], "status": s.get("status", "")}
            for s in row.slices
        ],
        "encoding": ENCODING,
        "labels": LABELS,
        "masks": row.masks,
    }


def mask_history(row: BodyCompositionMeasurement) -> list[dict[str, Any]]:
    """Every revision (without its pixels) and every review event, oldest first."""
    entries: list[dict[str, Any]] = [
        {
            "kind": "revision",
            "revision": r.revision,
            "operation": r.operation,
            "author": _name(r.author),
            "at": r.created_at,
            "slices": r.changed,
            "undoes": r.undoes.revision if r.undoes else None,
            "comment": "",
        }
        for r in row.revisions.select_related("author", "undoes").defer("masks")
    ]
    entries += [
        {
            "kind": "review",
            "revision": e.revision,
            "operation": e.action,
            "author": _name(e.actor),
            "at": e.created_at,
            "slices": [],
            "undoes": None,
            "comment": e.comment,
        }
        for e in row.mask_review_events.select_related("actor")
    ]
    return sorted(entries, key=lambda e: (e["at"], e["kind"] == "review"))

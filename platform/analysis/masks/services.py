"""Writes to a measurement's masks: a labeler's correction or undo (each a new
revision, then a re-measurement job), submission for review and a reviewer's
decision. Every write locks the measurement row first, refuses while its
masks are verified (423), checks the caller's base revision (409) and is
audited; revisions and review events are only added."""

import uuid
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from analysis.masks.codec import MAX_SLICES, decode_labels
from analysis.masks.models import MaskOperation, MaskReviewEvent, MaskRevision
from analysis.models import BodyCompositionMeasurement, Job
from analysis.services import enqueue
from annotations.models import ReviewAction, ReviewStatus
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import ApplicationError, Conflict, Forbidden, Locked

REMEASURE_JOB = "remeasure_body_composition"
REMEASURE_TASK = "ml_worker.remeasure_body_composition"


def _locked_row(measurement: BodyCompositionMeasurement) -> BodyCompositionMeasurement:
    row = BodyCompositionMeasurement.objects.select_for_update().get(pk=measurement.pk)
    row.series = measurement.series  # keep the caller's select_related study
    return row


def _ensure_unlocked(row: BodyCompositionMeasurement) -> None:
    if row.mask_review_status == ReviewStatus.VERIFIED:
        raise Locked(
            "These masks are verified and locked; a reviewer must return them first.",
            extra={"review": row.mask_review_status},
        )


def _check_revision(row: BodyCompositionMeasurement, base_revision: int) -> None:
    if base_revision != row.mask_revision:
        raise Conflict(
            "The masks changed since you loaded them; reload and try again.",
            extra={"revision": row.mask_revision, "base_revision": base_revision},
        )


def _audit(
    row: BodyCompositionMeasurement, action: str, user: Any, request: Any, **detail: Any
) -> None:
    audit_record(
        action=action,
        actor=user,
        obj=row,
        project_id=row.series.study.project_id,
        request=request,
        detail={"resource": "masks", "series": row.series_id, "level": row.level, **detail},
    )


def _model_revision(row: BodyCompositionMeasurement) -> None:
    """Revision 0 keeps the job's own masks, so the history starts from them."""
    if not row.revisions.exists():
        MaskRevision.objects.create(
            measurement=row, revision=0, operation=MaskOperation.MODEL, masks=row.masks
        )


def _merged(row: BodyCompositionMeasurement, slices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not slices or len(slices) > MAX_SLICES:
        raise ApplicationError(f"slices must list 1 to {MAX_SLICES} corrected masks.")
    current = {m["sop_instance_uid"]: m for m in row.masks}
    merged = dict(current)
    for item in slices:
        uid = str(item.get("sop_instance_uid", "")) if isinstance(item, dict) else ""
        if uid not in current:
            raise ApplicationError(
                f"Slice {uid!r} has no mask in this measurement.",
                extra={"slice": uid, "slices": sorted(current)},
            )
        decode_labels(item, tuple(current[uid]["shape"]))
        merged[uid] = {"sop_instance_uid": uid, "shape": item["shape"], "data": item["data"]}
    return list(merged.values())


@transaction.atomic
def masks_correct(
    *,
    measurement: BodyCompositionMeasurement,
    user: Any,
    base_revision: int,
    slices: list[dict[str, Any]],
    request: HttpRequest | None = None,
) -> BodyCompositionMeasurement:
    """Replace the painted slices' label maps; the level is measured again."""
    row = _locked_row(measurement)
    _ensure_unlocked(row)
    _check_revision(row, base_revision)
    masks = _merged(row, slices)
    _model_revision(row)
    changed = sorted({str(s["sop_instance_uid"]) for s in slices})
    _apply(row, masks, user, MaskOperation.CORRECT, changed=changed)
    _audit(
        row,
        AuditAction.LABELS_EDITED,
        user,
        request,
        operation="correct",
        revision=row.mask_revision,
        slices=changed,
    )
    return row


@transaction.atomic
def masks_undo(
    *,
    measurement: BodyCompositionMeasurement,
    user: Any,
    base_revision: int,
    request: HttpRequest | None = None,
) -> BodyCompositionMeasurement:
    """Revert the latest correction not yet undone, as a new revision: undos
    go in reverse order, so each restores the masks its correction replaced."""
    row = _locked_row(measurement)
    _ensure_unlocked(row)
    _check_revision(row, base_revision)
    target = (
        row.revisions.filter(operation=MaskOperation.CORRECT, undone_by__isnull=True)
        .order_by("-revision")
        .first()
    )
    if target is None:
        raise Conflict("There is no correction left to undo.")
    before = row.revisions.get(revision=target.revision - 1)
    _apply(row, before.masks, user, MaskOperation.UNDO, changed=target.changed, undoes=target)
    _audit(
        row,
        AuditAction.LABELS_EDITED,
        user,
        request,
        operation="undo",
        undoes=target.revision,
        revision=row.mask_revision,
    )
    return row


def _apply(
    row: BodyCompositionMeasurement,
    masks: list[dict[str, Any]],
    user: Any,
    operation: str,
    *,
    changed: list[str],
    undoes: MaskRevision | None = None,
) -> None:
    row.mask_revision += 1
    MaskRevision.objects.create(
        measurement=row,
        revision=row.mask_revision,
        operation=operation,
        author=user,
        masks=masks,
        changed=changed,
        undoes=undoes,
    )
    corrected = row.revisions.filter(operation=MaskOperation.CORRECT, undone_by__isnull=True)
    row.masks = masks
    if corrected.exists():
        row.mask_source, row.corrected_by, row.corrected_at = "corrected", user, timezone.now()
    else:  # every correction undone: the model's masks stand again
        row.mask_source, row.corrected_by, row.corrected_at = "model", None, None
    if row.mask_review_status == ReviewStatus.SUBMITTED:
        row.mask_review_status = ReviewStatus.OPEN  # the submitted revision is gone
    row.remeasure_job = _start_remeasure(row, user)
    row.save()


def _start_remeasure(row: BodyCompositionMeasurement, user: Any) -> Job:
    series = row.series
    parameters = {
        "measurement": row.pk,
        "revision": row.mask_revision,
        "level": row.level,
        "sop_instance_uids": [s["sop_instance_uid"] for s in row.slices],
        "masks": row.masks,
        "patient": {"height_m": row.height_m, "weight_kg": row.weight_kg, "sex": row.sex or None},
        "model": {"method": row.method, "name": row.model_name, "version": row.model_version},
    }
    job = Job.objects.create(
        project_id=series.study.project_id,
        institution_id=series.study.institution_id,
        series=series,
        job_type=REMEASURE_JOB,
        parameters=parameters,
        created_by=user,
        task_id=str(uuid.uuid4()),
    )
    payload = {
        "job_id": job.pk,
        "parameters": parameters,
        "target": {
            "study_instance_uid": series.study.study_instance_uid,
            "series_instance_uid": series.series_instance_uid,
        },
    }
    transaction.on_commit(lambda: enqueue(job, REMEASURE_TASK, "gpu", payload))
    return job


@transaction.atomic
def masks_submit(
    *,
    measurement: BodyCompositionMeasurement,
    user: Any,
    comment: str = "",
    request: HttpRequest | None = None,
) -> BodyCompositionMeasurement:
    """Put the current masks up for review (uncorrected ones say the model was right)."""
    row = _locked_row(measurement)
    _ensure_unlocked(row)
    if not row.masks:
        raise Conflict("This measurement has no masks to submit.")
    _decide(row, ReviewAction.SUBMIT, ReviewStatus.SUBMITTED, user, comment)
    _audit(row, AuditAction.LABELS_SUBMITTED, user, request, revision=row.mask_revision)
    return row


@transaction.atomic
def masks_review(
    *,
    measurement: BodyCompositionMeasurement,
    user: Any,
    decision: str,
    comment: str = "",
    request: HttpRequest | None = None,
) -> BodyCompositionMeasurement:
    """Verify the masks (locks them) or return them with a comment. Nobody
    judges masks they corrected or submitted themselves."""
    row = _locked_row(measurement)
    submitted = row.mask_review_events.filter(action=ReviewAction.SUBMIT).last()
    if user.pk in (row.corrected_by_id, submitted.actor_id if submitted else None):
        raise Forbidden("You cannot review masks you corrected or submitted yourself.")
    if decision == ReviewAction.VERIFY:
        if row.mask_review_status == ReviewStatus.VERIFIED:
            raise Conflict("These masks are already verified.")
        if row.measured_revision != row.mask_revision:
            raise Conflict("The corrected masks are still being measured; try again shortly.")
        _decide(row, ReviewAction.VERIFY, ReviewStatus.VERIFIED, user, comment)
    elif decision == ReviewAction.RETURN:
        if not comment.strip():
            raise ApplicationError("Say why the masks are returned.", extra={"comment": "required"})
        if row.mask_review_status not in (ReviewStatus.SUBMITTED, ReviewStatus.VERIFIED):
            raise Conflict("Nothing has been submitted or verified to return.")
        _decide(row, ReviewAction.RETURN, ReviewStatus.RETURNED, user, comment)
    else:
        raise ApplicationError(f"Unknown decision {decision!r}.", extra={"decision": decision})
    _audit(
        row,
        AuditAction.LABELS_REVIEWED,
        user,
        request,
        decision=decision,
        revision=row.mask_revision,
    )
    return row


def _decide(
    row: BodyCompositionMeasurement, action: str, status: str, user: Any, comment: str
) -> None:
    row.mask_review_status, row.mask_review_comment = status, comment
    row.mask_review_by, row.mask_review_at = user, timezone.now()
    row.save()
    MaskReviewEvent.objects.create(
        measurement=row, revision=row.mask_revision, action=action, actor=user, comment=comment
    )

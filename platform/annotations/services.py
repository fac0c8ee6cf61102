"""Writes to a series' labels: a labeler's edits and undo on their own track,
submission for review, and a reviewer's decision. Every write locks the
series' SeriesReview row first (one writer per series at a time), refuses
while the series is verified, and is audited. History rows are only added."""

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from analysis.selectors import series_levels_latest
from annotations.models import (
    EditOperation,
    LabelEdit,
    LabelTrack,
    ReviewAction,
    ReviewEvent,
    ReviewStatus,
    SeriesReview,
)
from annotations.selectors import series_slice_count
from annotations.vocabulary import SCHEMES, Scheme, convert, is_valid
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import ApplicationError, Conflict, Forbidden, Locked
from imaging.models import Series


def _review_for_update(series: Series) -> SeriesReview:
    SeriesReview.objects.get_or_create(series=series)
    return SeriesReview.objects.select_for_update().get(series=series)


def _ensure_unlocked(review: SeriesReview) -> None:
    if review.locked:
        raise Locked(
            "The labels of this series are verified and locked; a reviewer must return "
            "them before they can change.",
            extra={"review": review.status},
        )


def _own_track(series: Series, user: Any) -> LabelTrack | None:
    return LabelTrack.objects.select_for_update().filter(series=series, author=user).first()


def _check_revision(track: LabelTrack | None, base_revision: int) -> None:
    current = track.revision if track is not None else 0
    if base_revision != current:
        raise Conflict(
            "Your labels changed since you loaded them; reload and try again.",
            extra={"revision": current, "base_revision": base_revision},
        )


def _track_start(series: Series, user: Any, scheme: str) -> LabelTrack:
    """A new track: the model's levels (in `scheme`) so labelers correct rather
    than start from scratch; unlabeled slices when there is no result yet."""
    levels = series_levels_latest(series_id=series.pk)
    if levels is not None:
        labels = [convert(label, scheme) for label in levels.slice_levels]
    else:
        labels = [None] * series_slice_count(series, None)
    return LabelTrack.objects.create(
        series=series, author=user, scheme=scheme, labels=labels, source_levels=levels
    )


def _audit(
    track: LabelTrack, action: AuditAction, *, actor: Any, request: Any, **detail: Any
) -> None:
    audit_record(
        action=action,
        actor=actor,
        obj=track,
        project_id=track.series.study.project_id,
        request=request,
        detail={"series": track.series_id, "track": track.pk, **detail},
    )


@transaction.atomic
def labels_edit(
    *,
    series: Series,
    user: Any,
    base_revision: int,
    start: int,
    end: int,
    label: str | None,
    scheme: str | None = None,
    request: HttpRequest | None = None,
) -> LabelTrack:
    """Assign `label` (None: unlabeled; "disc") to slices start..end (inclusive)
    of the caller's track. A different `scheme` first converts the whole track
    (see vocabulary.convert); that edit then remembers the whole track."""
    if scheme is not None and scheme not in SCHEMES:
        raise ApplicationError(f"Unknown scheme {scheme!r}.", extra={"scheme": scheme})
    _ensure_unlocked(_review_for_update(series))
    track = _own_track(series, user)
    _check_revision(track, base_revision)
    if track is None:
        track = _track_start(series, user, scheme or Scheme.FINE)
    target = scheme or track.scheme
    if not is_valid(label, target):
        raise ApplicationError(
            f"{label!r} is not a label of the {target} scheme.", extra={"label": label}
        )
    if not 0 <= start <= end < len(track.labels):
        raise ApplicationError(
            f"The slice range must lie within 0..{len(track.labels) - 1} with start <= end.",
            extra={"start": start, "end": end, "slice_count": len(track.labels)},
        )
    labels, previous_scheme = list(track.labels), track.scheme
    if target != previous_scheme:
        previous_start, previous = 0, list(labels)
        labels = [convert(value, target) for value in labels]
    else:
        previous_start, previous = start, labels[start : end + 1]
    labels[start : end + 1] = [label] * (end - start + 1)
    track.labels, track.scheme = labels, target
    track.revision += 1
    track.save()
    LabelEdit.objects.create(
        track=track,
        author=user,
        revision=track.revision,
        operation=EditOperation.ASSIGN,
        start=start,
        end=end,
        label=label,
        scheme=target,
        previous_scheme=previous_scheme,
        previous_start=previous_start,
        previous_labels=previous,
    )
    _audit(
        track,
        AuditAction.LABELS_EDITED,
        actor=user,
        request=request,
        operation="assign",
        start=start,
        end=end,
        label=label,
        scheme=target,
        revision=track.revision,
    )
    return track


@transaction.atomic
def labels_undo(
    *, series: Series, user: Any, base_revision: int, request: HttpRequest | None = None
) -> LabelTrack:
    """Revert the caller's latest assign that is not undone yet, as a new
    revision. Undos revert in reverse order, so each restores exactly the
    labels its edit replaced."""
    _ensure_unlocked(_review_for_update(series))
    track = _own_track(series, user)
    _check_revision(track, base_revision)
    target = None
    if track is not None:
        target = (
            track.edits.filter(operation=EditOperation.ASSIGN, undone_by__isnull=True)
            .order_by("-revision")
            .first()
        )
    if track is None or target is None:
        raise Conflict("There is no edit of yours left to undo.")
    first = target.previous_start
    last = first + len(target.previous_labels) - 1
    labels, scheme_before = list(track.labels), track.scheme
    replaced = labels[first : last + 1]
    labels[first : last + 1] = target.previous_labels
    track.labels, track.scheme = labels, target.previous_scheme
    track.revision += 1
    track.save()
    LabelEdit.objects.create(
        track=track,
        author=user,
        revision=track.revision,
        operation=EditOperation.UNDO,
        start=first,
        end=last,
        label=None,
        scheme=track.scheme,
        previous_scheme=scheme_before,
        previous_start=first,
        previous_labels=replaced,
        undoes=target,
    )
    _audit(
        track,
        AuditAction.LABELS_EDITED,
        actor=user,
        request=request,
        operation="undo",
        undoes=target.revision,
        start=first,
        end=last,
        revision=track.revision,
    )
    return track


@transaction.atomic
def labels_submit(
    *, series: Series, user: Any, comment: str = "", request: HttpRequest | None = None
) -> SeriesReview:
    """Put the caller's track up for review. Without edits, the model's levels
    become the caller's track: submitting them says the model was right."""
    review = _review_for_update(series)
    _ensure_unlocked(review)
    track = _own_track(series, user)
    if track is None:
        if series_levels_latest(series_id=series.pk) is None:
            raise Conflict("There are no labels to submit: no model result and no edits.")
        track = _track_start(series, user, Scheme.FINE)
    _decide(review, track, ReviewAction.SUBMIT, ReviewStatus.SUBMITTED, user, comment)
    _audit(
        track, AuditAction.LABELS_SUBMITTED, actor=user, request=request, revision=track.revision
    )
    return review


@transaction.atomic
def labels_review(
    *,
    series: Series,
    user: Any,
    decision: str,
    track_id: int | None,
    comment: str = "",
    request: HttpRequest | None = None,
) -> SeriesReview:
    """Verify a track (locks the series) or return it with a comment (reopens
    it, verified or submitted); no track_id means the track under review.
    Nobody reviews a track they wrote."""
    review = _review_for_update(series)
    if track_id is None:  # the track under review, if any
        track_id = review.track_id
    track = LabelTrack.objects.filter(pk=track_id, series=series).first()
    if track is None:
        message = "That track is not a track of this series."
        if track_id is None:
            message = "Name the track to review: none has been submitted."
        raise ApplicationError(message, extra={"track": track_id})
    if track.author_id == user.pk:
        raise Forbidden("You cannot review labels you wrote yourself.")
    if decision == ReviewAction.VERIFY:
        if review.status == ReviewStatus.VERIFIED:
            raise Conflict("The labels of this series are already verified.")
        _decide(review, track, ReviewAction.VERIFY, ReviewStatus.VERIFIED, user, comment)
    elif decision == ReviewAction.RETURN:
        if not comment.strip():
            raise ApplicationError(
                "Say why the labels are returned.", extra={"comment": "required"}
            )
        if review.status not in (ReviewStatus.SUBMITTED, ReviewStatus.VERIFIED):
            raise Conflict("Nothing has been submitted or verified to return.")
        _decide(review, track, ReviewAction.RETURN, ReviewStatus.RETURNED, user, comment)
    else:
        raise ApplicationError(f"Unknown decision {decision!r}.", extra={"decision": decision})
    _audit(
        track,
        AuditAction.LABELS_REVIEWED,
        actor=user,
        request=request,
        decision=decision,
        revision=track.revision,
    )
    return review


def _decide(
    review: SeriesReview,
    track: LabelTrack,
    action: ReviewAction,
    status: ReviewStatus,
    user: Any,
    comment: str,
) -> None:
    review.status, review.track, review.comment = status, track, comment
    review.actor, review.at = user, timezone.now()
    review.save()
    ReviewEvent.objects.create(
        series=review.series,
        track=track,
        track_revision=track.revision,
        action=action,
        actor=user,
        comment=comment,
    )

"""Reads of a series' labels for the viewer: the model result, every
labeler's track, the review state, per-level agreement, the caller's
permissions, and the full history. Callers pass a series the user may see
(series_for_labels)."""

from typing import Any

from analysis.models import SeriesLevels
from analysis.selectors import series_levels_latest
from annotations.agreement import Labeling, level_agreement
from annotations.models import LabelEdit, LabelTrack, ReviewEvent, ReviewStatus, SeriesReview
from core.errors import NotFound
from imaging.models import Series
from imaging.selectors import series_list
from projects.access import user_can
from projects.roles import Capability


def series_for_labels(*, user: Any, series_id: int) -> Series:
    """The series if the user may read its results (VIEW_RESULTS in the scope
    of its project and institution); else 404, revealing nothing."""
    series = (
        series_list(user=user, capability=Capability.VIEW_RESULTS)
        .select_related("study")
        .filter(pk=series_id)
        .first()
    )
    if series is None:
        raise NotFound("Not found.")
    return series


def series_can(user: Any, capability: Capability, series: Series) -> bool:
    return user_can(
        user,
        capability,
        project_id=series.study.project_id,
        institution_id=series.study.institution_id,
    )


def series_slice_count(series: Series, levels: SeriesLevels | None) -> int:
    """Slices in the model result's order; the index count when there is no result."""
    if levels is not None:
        return len(levels.slice_levels)
    return series.slice_count or len(series.slice_positions_mm or [])


def track_data(track: LabelTrack) -> dict[str, Any]:
    return {
        "id": track.pk,
        "author": track.author.get_username(),
        "scheme": track.scheme,
        "labels": track.labels,
        "revision": track.revision,
        "updated_at": track.updated_at,
    }


def review_data(review: SeriesReview | None) -> dict[str, Any]:
    if review is None:
        return {"status": ReviewStatus.OPEN, "track": None, "comment": "", "by": None, "at": None}
    return {
        "status": review.status,
        "track": review.track_id,
        "comment": review.comment,
        "by": review.actor.get_username() if review.actor else None,
        "at": review.at,
    }


def _model_data(levels: SeriesLevels | None) -> dict[str, Any] | None:
    if levels is None:
        return None
    return {
        "levels_id": levels.pk,
        "model_name": levels.model_name,
        "model_version": levels.model_version,
        "slice_levels": levels.slice_levels,
        "slice_confidence": levels.slice_confidence,
        "ranges": levels.ranges,
        "flags": levels.flags,
        "has_cams": len(levels.cam_shape or []) == 3 and levels.cam_shape[0] > 0,
    }


def series_labels(*, user: Any, series: Series) -> dict[str, Any]:
    levels = series_levels_latest(series_id=series.pk)
    tracks = list(LabelTrack.objects.filter(series=series).select_related("author"))
    review = SeriesReview.objects.filter(series=series).select_related("actor").first()
    mine = next((t.pk for t in tracks if t.author_id == user.pk), None)
    positions = (levels.slice_positions_mm if levels else None) or series.slice_positions_mm
    agreement = level_agreement(
        levels.slice_levels if levels else None,
        [Labeling(t.scheme, t.labels) for t in tracks],
    )
    return {
        "series": series.pk,
        "slice_count": series_slice_count(series, levels),
        "slice_sop_instance_uids": levels.slice_sop_instance_uids if levels else [],
        "slice_positions_mm": positions or [],
        "model": _model_data(levels),
        "tracks": [track_data(t) for t in tracks],
        "mine": mine,
        "review": review_data(review),
        "locked": review is not None and review.locked,
        "agreement": [vars(row) for row in agreement],
        "permissions": {
            "label": series_can(user, Capability.LABEL, series),
            "review": series_can(user, Capability.REVIEW, series),
            "view_images": series_can(user, Capability.VIEW_IMAGES, series),
        },
    }


def labels_history(*, series: Series) -> list[dict[str, Any]]:
    """Every edit of every track and every review event, oldest first."""
    edits = LabelEdit.objects.filter(track__series=series).select_related("author", "undoes")
    events = ReviewEvent.objects.filter(series=series).select_related("actor")
    entries = [
        {
            "kind": "edit",
            "id": e.pk,
            "track": e.track_id,
            "author": e.author.get_username(),
            "at": e.created_at,
            "operation": e.operation,
            "start": e.start,
            "end": e.end,
            "label": e.label,
            "scheme": e.scheme,
            "revision": e.revision,
            "undoes": e.undoes.revision if e.undoes else None,
            "comment": "",
        }
        for e in edits
    ]
    entries += [
        {
            "kind": "review",
            "id": r.pk,
            "track": r.track_id,
            "author": r.actor.get_username(),
            "at": r.created_at,
            "operation": r.action,
            "start": None,
            "end": None,
            "label": None,
            "scheme": None,
            "revision": r.track_revision,
            "undoes": None,
            "comment": r.comment,
        }
        for r in events
    ]
    return sorted(entries, key=lambda e: (e["at"], e["kind"], e["id"]))

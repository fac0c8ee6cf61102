"""Review queues: the series where human time helps the model most, first.

Rank = model uncertainty (1 - mean posterior of the decoded level over the
series' slices, from SeriesLevels.slice_confidence) + disagreement (1 - the
lowest per-level Dice between model and labelers or between labelers, from
annotations.agreement). Each item says why it ranks where it does: the
weakest level by confidence and the level people and model disagree on most."""

from collections import defaultdict
from typing import Any

from django.db.models import Q

from analysis.models import JobState, SeriesLevels
from annotations.agreement import Labeling, level_agreement
from annotations.models import LabelTrack, ReviewStatus, SeriesReview
from imaging.selectors import series_list
from learning.ranking import uncertainty_of, uncertainty_score
from projects.models import ResearchProject
from projects.roles import Capability

QUEUE_CAPABILITY = {"labeler": Capability.LABEL, "reviewer": Capability.REVIEW}


def disagreement_of(
    model: list[str | None] | None, tracks: list[Labeling]
) -> tuple[float, str | None, float | None]:
    """(1 - lowest Dice, its level, that Dice) over model-vs-human and
    between-labeler agreement; (0, None, None) when nothing can be compared."""
    worst: tuple[float, str | None] = (1.0, None)
    for row in level_agreement(model, tracks):
        for value in (row.model_vs_human, row.between_labelers):
            if value is not None and value < worst[0]:
                worst = (value, row.level)
    if worst[1] is None:
        return 0.0, None, None
    return round(1 - worst[0], 4), worst[1], worst[0]


def _latest_levels(series_ids: list[int]) -> dict[int, SeriesLevels]:
    rows = (
        SeriesLevels.objects.filter(series_id__in=series_ids, job__state=JobState.SUCCEEDED)
        .only("series_id", "model_version", "slice_levels", "slice_confidence", "created_at")
        .order_by("series_id", "-created_at", "-id")
    )
    latest: dict[int, SeriesLevels] = {}
    for row in rows:
        latest.setdefault(row.series_id, row)
    return latest


def _item(series: Any, levels: SeriesLevels | None, tracks: list[LabelTrack]) -> dict[str, Any]:
    model = list(levels.slice_levels) if levels else None
    unc = uncertainty_of(model or [], list(levels.slice_confidence) if levels else [])
    labelings = [Labeling(t.scheme, t.labels) for t in tracks]
    disagreement, dis_level, dice = disagreement_of(model, labelings)
    uncertainty = uncertainty_score(unc)
    reasons = []
    if unc is None:
        reasons.append("no model result yet")
    else:
        reasons.append(
            f"model confidence mean {unc.mean_confidence:.2f}, lowest {unc.min_confidence:.2f}"
            + (
                f"; weakest level {unc.weakest_level} ({unc.weakest_level_confidence:.2f})"
                if unc.weakest_level
                else ""
            )
        )
    if dis_level is not None:
        reasons.append(f"disagreement at {dis_level} (Dice {dice:.2f})")
    return {
        "series": series.pk,
        "study": series.study_id,
        "institution": series.study.institution.code,
        "description": series.description,
        "score": round(uncertainty + disagreement, 4),
        "uncertainty": round(uncertainty, 4),
        "disagreement": disagreement,
        "weakest_level": unc.weakest_level if unc else None,
        "disagreement_level": dis_level,
        "model_version": levels.model_version if levels else None,
        "tracks": len(tracks),
        "reasons": reasons,
    }


def review_queue(
    *, user: Any, project: ResearchProject, role: str, limit: int
) -> list[dict[str, Any]]:
    """The next series for a labeler (not yet submitted or verified) or a
    reviewer (submitted), in the user's LABEL/REVIEW scope, worst first."""
    visible = series_list(user=user, capability=QUEUE_CAPABILITY[role]).filter(
        study__project=project
    )
    reviews = SeriesReview.objects.filter(series__study__project=project)
    if role == "reviewer":
        visible = visible.filter(
            pk__in=reviews.filter(status=ReviewStatus.SUBMITTED).values("series_id")
        )
    else:
        done = reviews.filter(Q(status=ReviewStatus.SUBMITTED) | Q(status=ReviewStatus.VERIFIED))
        visible = visible.exclude(pk__in=done.values("series_id"))
    series = list(visible)
    ids = [s.pk for s in series]
    levels = _latest_levels(ids)
    tracks: dict[int, list[LabelTrack]] = defaultdict(list)
    for track in LabelTrack.objects.filter(series_id__in=ids).only("series_id", "scheme", "labels"):
        tracks[track.series_id].append(track)
    items = [_item(s, levels.get(s.pk), tracks[s.pk]) for s in series]
    items.sort(key=lambda item: (-item["score"], item["series"]))
    return items[:limit]

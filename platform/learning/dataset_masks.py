"""Freezing the verified tissue masks of a dataset version's series.

Masks are frozen only for series the version holds (verified level labels),
so every mask has that series' split and a test patient's masks never train.
A version may hold labels and no masks."""

import hashlib
from collections import Counter
from typing import Any

from analysis.masks.training import case_of
from analysis.models import BodyCompositionMeasurement
from annotations.models import ReviewStatus
from learning.models import DatasetMask, DatasetSeries


def _verified_measurements(series_ids: list[int]) -> list[BodyCompositionMeasurement]:
    """The newest verified measurement per (series, level): several jobs may
    have measured a level, training wants one label map per slice."""
    rows = (
        BodyCompositionMeasurement.objects.filter(
            series_id__in=series_ids, mask_review_status=ReviewStatus.VERIFIED
        )
        .select_related("series__study", "corrected_by", "mask_review_by")
        .order_by("series_id", "level", "-mask_review_at", "-id")
    )
    newest: dict[tuple[int, str], BodyCompositionMeasurement] = {}
    for row in rows:
        newest.setdefault((row.series_id, row.level), row)
    return list(newest.values())


def _username(user: Any) -> str:
    return user.get_username() if user is not None else ""


def frozen_masks(rows: list[DatasetSeries]) -> list[DatasetMask]:
    """Unsaved mask copies for the frozen `rows` (their `dataset` set by the caller)."""
    row_of = {row.series_id: row for row in rows}
    masks = []
    for measurement in _verified_measurements(list(row_of)):
        study, row = measurement.series.study, row_of[measurement.series_id]
        # Verified masks are locked (423 on correct/undo), so the row's current
        # maps are exactly those of the verified revision `mask_revision`.
        for item in measurement.masks:
            masks.append(
                DatasetMask(
                    series_id=measurement.series_id,
                    measurement_id=measurement.pk,
                    level=measurement.level,
                    study_instance_uid=study.study_instance_uid,
                    series_instance_uid=measurement.series.series_instance_uid,
                    sop_instance_uid=item["sop_instance_uid"],
                    case=case_of(study),
                    institution_code=row.institution_code,
                    split=row.split,
                    shape=list(item["shape"]),
                    data=item["data"],
                    revision=measurement.mask_revision,
                    corrector=_username(measurement.corrected_by),
                    reviewer=_username(measurement.mask_review_by),
                    verified_at=measurement.mask_review_at or measurement.created_at,
                )
            )
    return masks


def masks_summary(masks: list[DatasetMask]) -> dict[str, Any]:
    return {
        "slices": len(masks),
        "measurements": len({m.measurement_id for m in masks}),
        "slices_per_split": dict(Counter(m.split for m in masks)),
    }


def masks_digest_content(masks: list[DatasetMask]) -> list[list[Any]]:
    """What of the masks the version's content digest covers."""
    return [
        [m.series_instance_uid, m.level, m.sop_instance_uid, m.split, m.revision,
         hashlib.sha256(m.data.encode()).hexdigest()]
        for m in masks
    ]  # fmt: skip

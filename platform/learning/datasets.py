"""Freezing verified level labels into dataset versions, and their manifest.

A version copies each verified track's labels, the instances they label, the
centre and the review (and the series' verified tissue masks, see
learning.dataset_masks), so later edits, returns or re-reviews never change it.
The split is a pure function of the patient (or series) and the fractions:
the same case lands in the same split in every version, so a test case never
becomes a training case when the set is re-frozen."""

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.http import HttpRequest

from analysis.models import JobState, SeriesLevels
from annotations.models import ReviewStatus, SeriesReview
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import ApplicationError
from imaging.models import Series
from learning.dataset_masks import frozen_masks, masks_digest_content, masks_summary
from learning.models import DatasetMask, DatasetSeries, DatasetVersion, Split
from projects.models import Cohort, ResearchProject

MANIFEST_COLUMNS = [
    "path",
    "case_id",
    "centre",
    "slice_index",
    "label",
    "scheme",
    "split",
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    "position_mm",
    "dataset_version",
]


@dataclass(frozen=True)
class Selection:
    """The cohort filter: institution codes (empty: all), series ids, a cohort id."""

    institutions: list[str]
    series: list[int]
    cohort: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "institutions": sorted(self.institutions),
            "series": sorted(self.series),
            "cohort": self.cohort,
        }


def split_of(key: str, *, val_fraction: float, test_fraction: float) -> str:
    """train / validation / test from a stable hash of `key` (no salt, no seed)."""
    unit = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    if unit < test_fraction:
        return Split.TEST
    if unit < test_fraction + val_fraction:
        return Split.VALIDATION
    return Split.TRAIN


def _selected_series(project: ResearchProject, selection: Selection) -> QuerySet[Series]:
    qs = Series.objects.filter(study__project=project).select_related("study", "study__institution")
    if selection.institutions:
        qs = qs.filter(study__institution__code__in=selection.institutions)
    if selection.series:
        qs = qs.filter(pk__in=selection.series)
    if selection.cohort is not None:
        qs = qs.filter(study__cohorts__id=selection.cohort)
    return qs.order_by("pk")


def _validate(
    project: ResearchProject, selection: Selection, held_out: list[str], fractions: list[float]
) -> None:
    codes = set(project.institutions.values_list("code", flat=True))
    unknown = sorted((set(selection.institutions) | set(held_out)) - codes)
    if unknown:
        raise ApplicationError(
            "These institutions do not take part in the project.", extra={"institutions": unknown}
        )
    cohorts = Cohort.objects.filter(pk=selection.cohort, project=project)
    if selection.cohort is not None and not cohorts.exists():
        raise ApplicationError(
            "No such cohort in this project.", extra={"cohort": selection.cohort}
        )
    if any(f < 0 for f in fractions) or sum(fractions) >= 1:
        raise ApplicationError(
            "val_fraction and test_fraction must be >= 0 and leave some series for training."
        )


def _row(
    series: Series,
    review: SeriesReview,
    levels: SeriesLevels | None,
    split: str,
) -> DatasetSeries | str:
    """The frozen row of a verified series, or why it cannot be frozen."""
    track = review.track
    if track is None:
        return "the review names no track"
    uids = list(levels.slice_sop_instance_uids) if levels else []
    if not uids:
        return "no classification result lists the slices' instances"
    if len(uids) != len(track.labels):
        return f"{len(track.labels)} labels for {len(uids)} slices"
    return DatasetSeries(
        series=series,
        study_instance_uid=series.study.study_instance_uid,
        series_instance_uid=series.series_instance_uid,
        institution_id=series.study.institution_id,
        institution_code=series.study.institution.code,
        split=split,
        scheme=track.scheme,
        labels=list(track.labels),
        sop_instance_uids=uids,
        slice_positions_mm=list(levels.slice_positions_mm or []) if levels else [],
        track_id=track.pk,
        track_revision=track.revision,
        labeler=track.author.get_username(),
        reviewer=review.actor.get_username() if review.actor else "",
        verified_at=review.at,
        source_model_version=levels.model_version if levels else "",
    )


def _levels_for(review: SeriesReview) -> SeriesLevels | None:
    """The result the verified track was copied from, else the newest one."""
    track = review.track
    if track is not None and track.source_levels_id is not None:
        return SeriesLevels.objects.defer("cams").filter(pk=track.source_levels_id).first()
    return (
        SeriesLevels.objects.defer("cams")
        .filter(series_id=review.series_id, job__state=JobState.SUCCEEDED)
        .order_by("-created_at", "-id")
        .first()
    )


def _summary(rows: Iterable[DatasetSeries]) -> dict[str, Any]:
    series: Counter[str] = Counter()
    slices: dict[str, Counter[str]] = {}
    centres: dict[str, Counter[str]] = {}
    for row in rows:
        series[row.split] += 1
        centres.setdefault(row.institution_code, Counter())[row.split] += 1
        per_label = slices.setdefault(row.split, Counter())
        per_label.update("none" if label is None else str(label) for label in row.labels)
    return {
        "series": dict(series),
        "slices_per_label": {k: dict(v) for k, v in slices.items()},
        "series_per_centre": {k: dict(v) for k, v in centres.items()},
    }


def _digest(rows: list[DatasetSeries], masks: list[DatasetMask]) -> str:
    content: list[Any] = [
        [r.series_instance_uid, r.split, r.scheme, r.labels, r.sop_instance_uids] for r in rows
    ]
    if masks:  # label-only versions keep the digest they had before masks were frozen
        content.append(masks_digest_content(masks))
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@transaction.atomic
def dataset_freeze(
    *,
    project: ResearchProject,
    selection: Selection,
    held_out_institutions: list[str],
    val_fraction: float,
    test_fraction: float,
    description: str,
    user: Any,
    request: HttpRequest | None = None,
) -> DatasetVersion:
    """Freeze the verified labels of the selected series as the project's next
    version. Refuses (400) an empty selection and one with no verified series."""
    _validate(project, selection, held_out_institutions, [val_fraction, test_fraction])
    # One freeze at a time per project, so version numbers never collide.
    ResearchProject.objects.select_for_update().filter(pk=project.pk).first()
    selected = list(_selected_series(project, selection))
    if not selected:
        raise ApplicationError(
            "The cohort is empty: no series of this project match the selection.",
            extra={"selection": selection.as_json()},
        )
    reviews = {
        r.series_id: r
        for r in SeriesReview.objects.filter(
            series__in=selected, status=ReviewStatus.VERIFIED
        ).select_related("track", "track__author", "actor")
    }
    if not reviews:
        raise ApplicationError(
            f"None of the {len(selected)} selected series has verified labels; "
            "have reviewers verify some before freezing.",
            extra={"selected": len(selected), "verified": 0},
        )
    rows, skipped = [], []
    for series in selected:
        review = reviews.get(series.pk)
        if review is None:
            continue
        split = _split_for(series, held_out_institutions, val_fraction, test_fraction)
        row = _row(series, review, _levels_for(review), split)
        if isinstance(row, str):
            skipped.append({"series": series.pk, "reason": row})
        else:
            rows.append(row)
    if not rows:
        raise ApplicationError("No verified series could be frozen.", extra={"skipped": skipped})
    masks = frozen_masks(rows)
    last = DatasetVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"]
    dataset = DatasetVersion.objects.create(
        project=project,
        number=(last or 0) + 1,
        description=description,
        selection=selection.as_json(),
        held_out_institutions=sorted(held_out_institutions),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        summary={
            **_summary(rows),
            "unverified": len(selected) - len(reviews),
            "masks": masks_summary(masks),
        },
        skipped=skipped,
        content_sha256=_digest(rows, masks),
        created_by=user,
    )
    for row in rows:
        row.dataset = dataset
    DatasetSeries.objects.bulk_create(rows)
    for mask in masks:
        mask.dataset = dataset
    DatasetMask.objects.bulk_create(masks)
    audit_record(
        action=AuditAction.DATASET_FROZEN,
        actor=user,
        obj=dataset,
        project_id=project.pk,
        request=request,
        detail={
            "number": dataset.number,
            "series": len(rows),
            "skipped": len(skipped),
            "mask_slices": len(masks),
        },
    )
    return dataset


def _split_for(series: Series, held_out: list[str], val: float, test: float) -> str:
    if series.study.institution.code in held_out:
        return Split.EXTERNAL
    # All series of one patient share a split: no patient on both sides.
    key = series.study.patient_pseudonym or series.series_instance_uid
    return split_of(key, val_fraction=val, test_fraction=test)


def manifest_rows(dataset: DatasetVersion) -> Iterable[list[Any]]:
    """Slice rows in ml_worker.training.data's manifest form. `path` is where
    the fetcher stores each instance, relative to the manifest's folder."""
    tag = f"{dataset.project.slug}:v{dataset.number}"
    for row in DatasetSeries.objects.filter(dataset=dataset).order_by("id").iterator():
        positions = row.slice_positions_mm or [None] * len(row.labels)
        for index, (label, uid, z) in enumerate(
            zip(row.labels, row.sop_instance_uids, positions, strict=False)
        ):
            yield [
                f"dicom/{row.series_instance_uid}/{uid}.dcm",
                row.series_instance_uid,
                row.institution_code,
                index,
                "" if label is None else label,
                row.scheme,
                row.split,
                row.study_instance_uid,
                row.series_instance_uid,
                uid,
                "" if z is None else z,
                tag,
            ]


def manifest_csv(dataset: DatasetVersion) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(manifest_rows(dataset))
    return buffer.getvalue()


def dataset_manifest_export(
    *, dataset: DatasetVersion, user: Any, request: HttpRequest | None = None
) -> str:
    """The manifest CSV; every download is audited."""
    text = manifest_csv(dataset)
    audit_record(
        action=AuditAction.DATA_DOWNLOADED,
        actor=user,
        obj=dataset,
        project_id=dataset.project_id,
        request=request,
        detail={"export": "dataset_manifest", "number": dataset.number},
    )
    return text

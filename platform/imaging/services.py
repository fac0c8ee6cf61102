"""Writes to the imaging index: ingest an upload into a project."""

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest

from audit.models import AuditAction
from audit.services import audit_record
from core.errors import ApplicationError
from imaging import ingest, storing
from imaging.dicomweb import ImageStore, ImageStoreError, image_store
from imaging.geometry import spacing_between
from imaging.headers import InstanceHeader
from imaging.models import Series, Study
from projects.models import ResearchProject

logger = logging.getLogger(__name__)


@dataclass
class UploadReport:
    files: list[ingest.FileOutcome]
    study_ids: list[int]

    @property
    def counts(self) -> dict[str, int]:
        return ingest.counts(self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "studies": self.study_ids,
            "files": ingest.report_rows(self.files),
        }


def upload_ingest(
    *,
    project: ResearchProject,
    user: Any,
    items: Iterable[ingest.UploadItem],
    request: HttpRequest | None = None,
    store: ImageStore | None = None,
) -> UploadReport:
    """Validate, de-identify, store and index an upload for the user's institution."""
    if user.institution_id is None:
        raise ApplicationError("Uploads are attributed to an institution; you have none.")
    store = store or image_store()
    outcomes: list[ingest.FileOutcome] = []
    prepared = _prepare_and_store(items, project=project, user=user, store=store, outcomes=outcomes)
    stored = [
        p
        for p in prepared
        if p.outcome.status in (ingest.FileStatus.ACCEPTED, ingest.FileStatus.DUPLICATE)
    ]
    try:
        study_ids = _index(stored, project=project, user=user, store=store)
    except (DatabaseError, ValueError, TypeError) as exc:
        # Stored but not indexed: report it (never a 500). Uploading the same
        # files again finds them in the store as duplicates and indexes them.
        logger.exception("upload index failed after store: %s", type(exc).__name__)
        for item in stored:
            item.outcome.status = ingest.FileStatus.REJECTED
            item.outcome.code = "index_failed"
            item.outcome.message = "Stored, but not indexed; upload the same files again."
        study_ids = []
    report = UploadReport(files=outcomes + [p.outcome for p in prepared], study_ids=study_ids)
    audit_record(
        action=AuditAction.DATA_UPLOADED,
        actor=user,
        project_id=project.pk,
        request=request,
        detail={"counts": report.counts, "studies": study_ids},
    )
    return report


def _prepare_and_store(
    items: Iterable[ingest.UploadItem],
    *,
    project: ResearchProject,
    user: Any,
    store: ImageStore,
    outcomes: list[ingest.FileOutcome],
) -> list[ingest.PreparedInstance]:
    """Validate, de-identify, encode and check each batch against the index, then
    hand it to the store pipeline, which checks it against the store and stores
    it while the next batch is prepared."""
    prepared: list[ingest.PreparedInstance] = []
    seen: set[str] = set()
    pseudonyms: dict[str, str] = {}
    size = max(1, min(settings.STOW_BATCH_SIZE, ingest.PIPELINE_BATCH_SIZE))
    batches = ingest.prepare_batches(
        items, project_key=str(project.pk), outcomes=outcomes, size=size
    )
    looked_up: set[tuple[str, str]] = set()
    with storing.StorePipeline(store) as pipeline:
        for batch in batches:
            prepared += batch
            _check_against_index(batch, project, user.institution_id, pseudonyms)
            accepted = [p for p in batch if p.outcome.status == ingest.FileStatus.ACCEPTED]
            storing.mark_repeats(accepted, seen)
            pipeline.submit(batch, indexed=_indexed_series(accepted, project, looked_up))
    return prepared


def _indexed_series(
    prepared: list[ingest.PreparedInstance],
    project: ResearchProject,
    looked_up: set[tuple[str, str]],
) -> set[tuple[str, str]]:
    """Which of the batch's series the index holds, asked once per series per
    upload: the store needs no count for those before the UID check (one round
    trip less before each request's first STOW-RS, when the store is idle)."""
    keys = {(p.study_uid, p.series_uid) for p in prepared} - looked_up
    if not keys:
        return set()
    looked_up |= keys
    rows = Series.objects.filter(
        study__project=project,
        study__study_instance_uid__in={study for study, _ in keys},
        series_instance_uid__in={series for _, series in keys},
    ).values_list("study__study_instance_uid", "series_instance_uid")
    return set(rows) & keys


def _check_against_index(
    prepared: list[ingest.PreparedInstance],
    project: ResearchProject,
    institution_id: int,
    pseudonyms: dict[str, str],
) -> None:
    """One query per batch. A study already indexed for another institution stays
    theirs. One study belongs to one patient: files that put a study under
    another pseudonym than its index row (or than its first file in this upload:
    pass the same `pseudonyms` for every batch) are refused, or the store would
    file them under a second patient."""
    uids = {p.study_uid for p in prepared}
    rows = Study.objects.filter(project=project, study_instance_uid__in=uids).values_list(
        "study_instance_uid", "institution_id", "patient_pseudonym"
    )
    foreign = set()
    for uid, owner, pseudonym in rows:
        pseudonyms[uid] = pseudonym
        if owner != institution_id:
            foreign.add(uid)
    for item in prepared:
        if item.study_uid in foreign:
            message = "This study was uploaded by another institution."
            _reject(item, "study_owned_elsewhere", message)
            continue
        if item.outcome.status != ingest.FileStatus.ACCEPTED:
            continue
        pseudonym = item.header.patient_pseudonym
        if pseudonyms.setdefault(item.study_uid, pseudonym) != pseudonym:
            _reject(item, "study_patient_mismatch", "The study already belongs to another patient.")


def _reject(item: ingest.PreparedInstance, code: str, message: str) -> None:
    item.outcome.status = ingest.FileStatus.REJECTED
    item.outcome.code = code
    item.outcome.message = message


@transaction.atomic
def _index(
    stored: list[ingest.PreparedInstance], *, project: ResearchProject, user: Any, store: ImageStore
) -> list[int]:
    by_series: dict[tuple[str, str], list[ingest.PreparedInstance]] = defaultdict(list)
    for item in stored:
        by_series[(item.study_uid, item.series_uid)].append(item)
    study_ids: list[int] = []
    for (study_uid, series_uid), items in by_series.items():
        study = _study_upsert(project, user, study_uid, items[0].header)
        _series_upsert(study, series_uid, items, store)
        if study.pk not in study_ids:
            study_ids.append(study.pk)
    return study_ids


def _study_upsert(
    project: ResearchProject, user: Any, study_uid: str, header: InstanceHeader
) -> Study:
    study, _ = Study.objects.select_for_update().get_or_create(
        project=project,
        study_instance_uid=study_uid,
        defaults={
            "institution_id": user.institution_id,
            "uploaded_by": user,
            "patient_pseudonym": header.patient_pseudonym[:64],
            "patient_sex": header.patient_sex,
            "patient_age_years": header.patient_age_years,
            "patient_height_m": header.patient_height_m,
            "patient_weight_kg": header.patient_weight_kg,
            "study_date": header.study_date,
            "modality": header.modality,
            "description": header.study_description,
            "body_part": header.body_part,
        },
    )
    return study


def _series_upsert(
    study: Study, series_uid: str, items: list[ingest.PreparedInstance], store: ImageStore
) -> Series:
    first = items[0].header
    series, _ = Series.objects.select_for_update().get_or_create(
        study=study,
        series_instance_uid=series_uid,
        defaults={
            "series_number": first.series_number,
            "modality": first.modality,
            "description": first.series_description,
        },
    )
    geometries = [item.header.geometry for item in items]
    positions = {g.position_mm for g in geometries if g.position_mm is not None}
    positions |= set(series.slice_positions_mm or [])
    series.slice_positions_mm = sorted(positions, reverse=True)  # superior first
    # The store is the truth for how many instances the series holds.
    try:
        series.slice_count = store.series_instance_count(study.study_instance_uid, series_uid)
    except ImageStoreError:
        series.slice_count = max(series.slice_count, len(series.slice_positions_mm))
    reference = geometries[0]
    series.rows, series.columns = reference.rows, reference.columns
    series.pixel_spacing_mm = reference.pixel_spacing_mm
    series.slice_thickness_mm = reference.thickness_mm
    series.orientation = reference.orientation
    series.spacing_between_slices_mm = spacing_between(series.slice_positions_mm)
    series.save()
    return series

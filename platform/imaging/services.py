"""Writes to the imaging index: ingest an upload into a project."""

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests
from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest

from audit.models import AuditAction
from audit.services import audit_record
from core.errors import ApplicationError
from imaging import ingest
from imaging.dicomweb import ImageStore, ImageStoreError, image_store
from imaging.geometry import slice_geometry, spacing_between
from imaging.models import Series, Study
from projects.models import ResearchProject

logger = logging.getLogger(__name__)
_AGE_RE = re.compile(r"^(\d{3})([DWMY])$")
_AGE_DIVISOR = {"D": 365.25, "W": 52.18, "M": 12.0, "Y": 1.0}


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
    items: list[ingest.UploadItem],
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
    items: list[ingest.UploadItem],
    *,
    project: ResearchProject,
    user: Any,
    store: ImageStore,
    outcomes: list[ingest.FileOutcome],
) -> list[ingest.PreparedInstance]:
    """Validate, de-identify and check each batch, then hand it to the store
    pipeline, which stores it while the next batch is prepared."""
    prepared: list[ingest.PreparedInstance] = []
    seen: set[str] = set()
    size = max(1, min(settings.STOW_BATCH_SIZE, ingest.PIPELINE_BATCH_SIZE))
    batches = ingest.prepare_batches(
        items, project_key=str(project.pk), outcomes=outcomes, size=size
    )
    with ingest.StorePipeline(store) as pipeline:
        for batch in batches:
            prepared += batch
            _reject_foreign_studies(batch, project, user.institution_id)
            accepted = [p for p in batch if p.outcome.status == ingest.FileStatus.ACCEPTED]
            ingest.mark_duplicates(accepted, store, seen=seen)
            pipeline.submit(accepted)
    return prepared


def _reject_foreign_studies(
    prepared: list[ingest.PreparedInstance], project: ResearchProject, institution_id: int
) -> None:
    """A study already indexed for another institution stays theirs."""
    uids = {p.study_uid for p in prepared}
    foreign = set(
        Study.objects.filter(project=project, study_instance_uid__in=uids)
        .exclude(institution_id=institution_id)
        .values_list("study_instance_uid", flat=True)
    )
    for item in prepared:
        if item.study_uid in foreign:
            item.outcome.status = ingest.FileStatus.REJECTED
            item.outcome.code = "study_owned_elsewhere"
            item.outcome.message = "This study was uploaded by another institution."
    _reject_patient_mismatch(prepared, project)


def _reject_patient_mismatch(
    prepared: list[ingest.PreparedInstance], project: ResearchProject
) -> None:
    """One study belongs to one patient: files that put a study under another
    pseudonym than its index row (or than its first file here) are refused, or
    the store would file them under a second patient."""
    uids = {p.study_uid for p in prepared}
    known = dict(
        Study.objects.filter(project=project, study_instance_uid__in=uids).values_list(
            "study_instance_uid", "patient_pseudonym"
        )
    )
    for item in prepared:
        if item.outcome.status != ingest.FileStatus.ACCEPTED:
            continue
        pseudonym = str(item.dataset.get("PatientID", ""))
        if known.setdefault(item.study_uid, pseudonym) != pseudonym:
            item.outcome.status = ingest.FileStatus.REJECTED
            item.outcome.code = "study_patient_mismatch"
            item.outcome.message = "The study already belongs to another patient."


@transaction.atomic
def _index(
    stored: list[ingest.PreparedInstance], *, project: ResearchProject, user: Any, store: ImageStore
) -> list[int]:
    by_series: dict[tuple[str, str], list[ingest.PreparedInstance]] = defaultdict(list)
    for item in stored:
        by_series[(item.study_uid, item.series_uid)].append(item)
    study_ids: list[int] = []
    for (study_uid, series_uid), items in by_series.items():
        study = _study_upsert(project, user, study_uid, items[0].dataset)
        _series_upsert(study, series_uid, items, store)
        if study.pk not in study_ids:
            study_ids.append(study.pk)
    return study_ids


def _study_upsert(project: ResearchProject, user: Any, study_uid: str, ds: Any) -> Study:
    study, _ = Study.objects.select_for_update().get_or_create(
        project=project,
        study_instance_uid=study_uid,
        defaults={
            "institution_id": user.institution_id,
            "uploaded_by": user,
            "patient_pseudonym": str(ds.get("PatientID", ""))[:64],
            "patient_sex": str(ds.get("PatientSex", ""))
            if ds.get("PatientSex") in ("F", "M", "O")
            else "",
            "patient_age_years": _age_years(ds.get("PatientAge")),
            "patient_height_m": _positive_float(ds.get("PatientSize")),
            "patient_weight_kg": _positive_float(ds.get("PatientWeight")),
            "study_date": _dicom_date(ds.get("StudyDate")),
            "modality": str(ds.get("Modality", ""))[:16],
            "description": str(ds.get("StudyDescription", ""))[:200],
            "body_part": str(ds.get("BodyPartExamined", ""))[:64],
        },
    )
    return study


def _series_upsert(
    study: Study, series_uid: str, items: list[ingest.PreparedInstance], store: ImageStore
) -> Series:
    first = items[0].dataset
    series, _ = Series.objects.select_for_update().get_or_create(
        study=study,
        series_instance_uid=series_uid,
        defaults={
            "series_number": _int_or_none(first.get("SeriesNumber")),
            "modality": str(first.get("Modality", ""))[:16],
            "description": str(first.get("SeriesDescription", ""))[:200],
        },
    )
    geometries = [slice_geometry(item.dataset) for item in items]
    positions = {g.position_mm for g in geometries if g.position_mm is not None}
    positions |= set(series.slice_positions_mm or [])
    series.slice_positions_mm = sorted(positions, reverse=True)  # superior first
    # The store is the truth for how many instances the series holds.
    try:
        series.slice_count = _stored_instance_count(store, study.study_instance_uid, series_uid)
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


def _stored_instance_count(store: ImageStore, study_uid: str, series_uid: str) -> int:
    """Instances of the series in the store, from one series-level QIDO-RS answer
    (Number of Series Related Instances, which Orthanc takes from its index: a few
    ms, where listing the instances reads every stored file). Stores that leave
    the attribute out are asked for the instance list instead."""
    try:
        rows = store.client.search_for_series(
            study_instance_uid=study_uid,
            fields=["00201209"],
            search_filters={"SeriesInstanceUID": series_uid},
        )
    except requests.RequestException as exc:
        raise ImageStoreError(f"QIDO-RS failed: {type(exc).__name__}") from exc
    for row in rows:
        if row.get("0020000E", {}).get("Value") != [series_uid]:
            continue
        count = _int_or_none((row.get("00201209", {}).get("Value") or [None])[0])
        if count is not None:
            return count
    return len(store.instance_uids(study_uid, series_uid))


def _age_years(value: Any) -> int | None:
    match = _AGE_RE.match(str(value or ""))
    if not match:
        return None
    return int(int(match.group(1)) / _AGE_DIVISOR[match.group(2)])


def _positive_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


INT32 = range(-(2**31), 2**31)


def _int_or_none(value: Any) -> int | None:
    """An integer that fits the index's integer columns, else None."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number in INT32 else None


def _dicom_date(value: Any) -> date | None:
    text = str(value or "")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None

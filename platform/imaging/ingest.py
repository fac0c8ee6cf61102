"""Upload ingest: validate every file, de-identify, store in the image store
over STOW-RS, then index. Each file gets its own outcome; a bad file never
loses or half-stores the others, and index rows are written only for what the
store confirmed (in one transaction, after the store)."""

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from pydicom import Dataset

from imaging.dicom.deid import deidentify
from imaging.dicom.validation import DicomRejected, iter_zip_members, validate_dicom_bytes
from imaging.dicomweb import ImageStore, ImageStoreError

logger = logging.getLogger(__name__)
ZIP_MAGIC = b"PK\x03\x04"
QUARANTINE_MESSAGES = {
    "secondary_capture": "Not stored: screen captures may carry burned-in identifying text.",
    "burned_in_annotation": "Not stored: the image declares burned-in annotation.",
    "structured_report": "Not stored: reports (dose SR included) may carry identifying text.",
}


class FileStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"


@dataclass
class FileOutcome:
    name: str
    status: FileStatus
    code: str = ""
    message: str = ""
    series_instance_uid: str = ""  # de-identified


@dataclass
class PreparedInstance:
    """A validated, de-identified instance waiting to be stored."""

    name: str
    dataset: Dataset
    study_uid: str
    series_uid: str
    sop_uid: str
    outcome: FileOutcome = field(init=False)

    def __post_init__(self) -> None:
        self.outcome = FileOutcome(
            self.name, FileStatus.ACCEPTED, series_instance_uid=self.series_uid
        )


@dataclass(frozen=True)
class UploadItem:
    name: str
    data: bytes


def expand_uploads(
    items: Iterable[UploadItem], outcomes: list[FileOutcome]
) -> Iterator[UploadItem]:
    """Yield DICOM candidates, opening zips safely. A zip with any unsafe member
    is rejected whole: none of its files are stored."""
    for item in items:
        if not item.data.startswith(ZIP_MAGIC):
            yield item
            continue
        try:
            members = list(
                iter_zip_members(
                    item.data,
                    max_members=settings.UPLOAD_MAX_ZIP_MEMBERS,
                    max_total_uncompressed=settings.UPLOAD_MAX_REQUEST_BYTES,
                    max_member_bytes=settings.UPLOAD_MAX_FILE_BYTES,
                    max_ratio=settings.UPLOAD_MAX_ZIP_RATIO,
                )
            )
        except DicomRejected as exc:
            outcomes.append(
                FileOutcome(item.name, FileStatus.REJECTED, exc.reason_code, exc.message)
            )
            continue
        if not members:
            outcomes.append(
                FileOutcome(item.name, FileStatus.REJECTED, "zip_empty", "The zip holds no files.")
            )
        for member_name, data in members:
            yield UploadItem(f"{item.name}/{member_name}", data)


def prepare(
    item: UploadItem, *, project_key: str, outcomes: list[FileOutcome]
) -> PreparedInstance | None:
    """Validate and de-identify one file; record why if it cannot be stored."""
    try:
        valid = validate_dicom_bytes(item.data, max_bytes=settings.UPLOAD_MAX_FILE_BYTES)
    except DicomRejected as exc:
        outcomes.append(FileOutcome(item.name, FileStatus.REJECTED, exc.reason_code, exc.message))
        return None
    if valid.quarantine:
        outcomes.append(
            FileOutcome(
                item.name,
                FileStatus.QUARANTINED,
                valid.quarantine_reason or "quarantined",
                "Not stored: may carry burned-in identifying information.",
            )
        )
        return None
    try:
        result = deidentify(valid.dataset, project_key=project_key, key=settings.DEID_KEY.encode())
    except Exception as exc:  # a header pydicom parsed but the profile cannot process
        logger.warning("de-identification failed for an uploaded file: %s", type(exc).__name__)
        outcomes.append(
            FileOutcome(
                item.name,
                FileStatus.REJECTED,
                "deid_failed",
                "The file could not be de-identified.",
            )
        )
        return None
    ds = result.dataset
    return PreparedInstance(
        item.name, ds, str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
    )


def mark_duplicates(prepared: list[PreparedInstance], store: ImageStore) -> None:
    """Flag instances already in the store (or twice in this upload) as
    duplicates. If the store cannot be asked, those files are rejected."""
    present: set[str] = set()
    unreachable: set[tuple[str, str]] = set()
    for study_uid, series_uid in {(p.study_uid, p.series_uid) for p in prepared}:
        try:
            present |= store.instance_uids(study_uid, series_uid)
        except ImageStoreError:
            unreachable.add((study_uid, series_uid))
    seen: set[str] = set()
    for item in prepared:
        if (item.study_uid, item.series_uid) in unreachable:
            _reject([item], "store_failed", "The image store is unavailable; try again later.")
        elif item.sop_uid in present or item.sop_uid in seen:
            item.outcome.status = FileStatus.DUPLICATE
            item.outcome.message = "Already stored; nothing changed."
        seen.add(item.sop_uid)


def store_batches(prepared: list[PreparedInstance], store: ImageStore, batch_size: int) -> None:
    """STOW-RS new instances in batches; a failed batch rejects only its files."""
    new = [p for p in prepared if p.outcome.status == FileStatus.ACCEPTED]
    for start in range(0, len(new), batch_size):
        batch = new[start : start + batch_size]
        try:
            outcome = store.store([p.dataset for p in batch])
        except ImageStoreError as exc:
            _reject(batch, "store_failed", f"The image store did not accept the file ({exc}).")
            continue
        for item in batch:
            if item.sop_uid in outcome.failed:
                _reject([item], "store_failed", outcome.failed[item.sop_uid])
            elif item.sop_uid not in outcome.stored:
                _reject([item], "store_unconfirmed", "The image store did not confirm the file.")


def _reject(items: list[PreparedInstance], code: str, message: str) -> None:
    for item in items:
        item.outcome.status = FileStatus.REJECTED
        item.outcome.code = code
        item.outcome.message = message


def counts(outcomes: list[FileOutcome]) -> dict[str, int]:
    totals = {status.value: 0 for status in FileStatus}
    for outcome in outcomes:
        totals[outcome.status.value] += 1
    return totals


def report_rows(outcomes: list[FileOutcome]) -> list[dict[str, Any]]:
    return [
        {
            "name": o.name,
            "status": o.status.value,
            "code": o.code,
            "message": o.message,
            "series_instance_uid": o.series_instance_uid,
        }
        for o in outcomes
    ]

"""Upload ingest: validate every file, de-identify, store in the image store
over STOW-RS, then index. Each file gets its own outcome; a bad file never
loses or half-stores the others, and index rows are written only for what the
store confirmed (in one transaction, after the store).

Each file is parsed once, de-identified in place and encoded once (the bytes the
profile left alone are copied from the upload, see imaging.dicom.part10), in
batches that imaging.storing stores while the next is prepared. The first
batches are small so that the store starts early. Nothing reaches the store
before it passed validation and de-identification."""

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings

from imaging.dicom.archives import iter_zip_members
from imaging.dicom.deid import deidentify
from imaging.dicom.part10 import encode_part10
from imaging.dicom.validation import DicomRejected, validate_dicom_bytes
from imaging.headers import InstanceHeader, instance_header

logger = logging.getLogger(__name__)
ZIP_MAGIC = b"PK\x03\x04"
# Instances per STOW-RS request (at most STOW_BATCH_SIZE): small enough that the
# last request is short, large enough that per-request overhead stays negligible.
# Batches grow from FIRST_BATCH_SIZE, so that the store starts early.
PIPELINE_BATCH_SIZE = 10
FIRST_BATCH_SIZE = 2
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
    """A validated, de-identified instance waiting to be stored: ``encoded`` is the
    Part-10 file to store (released once stored), ``header`` what the index keeps."""

    name: str
    header: InstanceHeader
    encoded: bytes
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
        # In place: the parsed upload is not used again (outcomes carry only the
        # name and de-identified UIDs), so a deep copy would be wasted.
        result = deidentify(
            valid.dataset, project_key=project_key, key=settings.DEID_KEY.encode(), in_place=True
        )
    except Exception as exc:  # a header pydicom parsed but the profile cannot process
        logger.warning("de-identification failed for an uploaded file: %s", type(exc).__name__)
        outcomes.append(_rejected(item.name, "deid_failed", "The file could not be de-identified."))
        return None
    ds = result.dataset
    try:
        header = instance_header(ds)
    except Exception as exc:  # a value the index reads that pydicom cannot convert
        logger.warning("header unreadable in an uploaded file: %s", type(exc).__name__)
        outcomes.append(
            _rejected(item.name, "unreadable", "An attribute the index needs could not be read.")
        )
        return None
    try:
        encoded = encode_part10(
            ds,
            source=item.data,
            spans=valid.spans,
            unchanged=result.unchanged,
            encoded=result.encoded,
        )
    except Exception as exc:  # a value pydicom read but cannot write back
        logger.warning("encoding failed for an uploaded file: %s", type(exc).__name__)
        outcomes.append(
            _rejected(item.name, "encode_failed", "The de-identified file could not be encoded.")
        )
        return None
    return PreparedInstance(
        item.name,
        header,
        encoded,
        str(ds.StudyInstanceUID),
        str(ds.SeriesInstanceUID),
        str(ds.SOPInstanceUID),
    )


def _rejected(name: str, code: str, message: str) -> FileOutcome:
    return FileOutcome(name, FileStatus.REJECTED, code, message)


def prepare_batches(
    items: Iterable[UploadItem],
    *,
    project_key: str,
    outcomes: list[FileOutcome],
    size: int,
    first: int = FIRST_BATCH_SIZE,
) -> Iterator[list[PreparedInstance]]:
    """Expand, validate, de-identify and encode the upload, yielding batches that
    double from `first` instances up to `size`."""
    batch: list[PreparedInstance] = []
    wanted = max(1, min(first, size))
    for item in expand_uploads(items, outcomes):
        prepared = prepare(item, project_key=project_key, outcomes=outcomes)
        if prepared is not None:
            batch.append(prepared)
        if len(batch) >= wanted:
            yield batch
            batch = []
            wanted = min(size, wanted * 2)
    if batch:
        yield batch


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

"""Upload ingest: validate every file, de-identify, store in the image store
over STOW-RS, then index. Each file gets its own outcome; a bad file never
loses or half-stores the others, and index rows are written only for what the
store confirmed (in one transaction, after the store).

Batches are pipelined: while one batch travels to the store (socket I/O, which
releases the GIL, and the store's own CPU), the next one is validated and
de-identified. Nothing reaches the pipeline before it passed both."""

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import requests
from django.conf import settings
from pydicom import Dataset

from imaging.dicom.deid import deidentify
from imaging.dicom.validation import DicomRejected, iter_zip_members, validate_dicom_bytes
from imaging.dicomweb import ImageStore, ImageStoreError

logger = logging.getLogger(__name__)
ZIP_MAGIC = b"PK\x03\x04"
# Instances per pipelined STOW-RS request (at most STOW_BATCH_SIZE): small enough
# that the first request leaves early and the last one is short, large enough that
# per-request overhead stays negligible.
PIPELINE_BATCH_SIZE = 10
# SOP Instance UIDs per duplicate-check query: keeps the URL far below server limits.
_UIDS_PER_QUERY = 40
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


def prepare_batches(
    items: Iterable[UploadItem], *, project_key: str, outcomes: list[FileOutcome], size: int
) -> Iterator[list[PreparedInstance]]:
    """Expand, validate and de-identify the upload, yielding `size` instances at a time."""
    batch: list[PreparedInstance] = []
    for item in expand_uploads(items, outcomes):
        prepared = prepare(item, project_key=project_key, outcomes=outcomes)
        if prepared is not None:
            batch.append(prepared)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def mark_duplicates(
    prepared: list[PreparedInstance], store: ImageStore, *, seen: set[str] | None = None
) -> None:
    """Flag instances already in the store (or earlier in this upload: pass the same
    `seen` set for every batch) as duplicates. If the store cannot be asked, those
    files are rejected."""
    seen = set() if seen is None else seen
    present: set[str] = set()
    unreachable: set[tuple[str, str]] = set()
    for (study_uid, series_uid), sop_uids in _group_by_series(prepared).items():
        try:
            present |= present_instances(store, study_uid, series_uid, sop_uids)
        except ImageStoreError:
            unreachable.add((study_uid, series_uid))
    for item in prepared:
        if (item.study_uid, item.series_uid) in unreachable:
            _reject([item], "store_failed", "The image store is unavailable; try again later.")
        elif item.sop_uid in present or item.sop_uid in seen:
            item.outcome.status = FileStatus.DUPLICATE
            item.outcome.message = "Already stored; nothing changed."
        seen.add(item.sop_uid)


def _group_by_series(prepared: list[PreparedInstance]) -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for item in prepared:
        groups.setdefault((item.study_uid, item.series_uid), []).append(item.sop_uid)
    return groups


def present_instances(
    store: ImageStore, study_uid: str, series_uid: str, sop_uids: list[str]
) -> set[str]:
    """Which of `sop_uids` the store already holds.

    Asks for exactly these UIDs (QIDO-RS UID list matching, PS3.18 8.3.4.1) rather
    than listing the series: Orthanc answers a series listing by reading every
    stored file (about 0.5 s for 300 CT slices), a miss on a UID list in a few ms.
    Only requested UIDs count, whatever else a store may answer with."""
    wanted = set(sop_uids)
    unique = sorted(wanted)
    found: set[str] = set()
    for start in range(0, len(unique), _UIDS_PER_QUERY):
        chunk = unique[start : start + _UIDS_PER_QUERY]
        try:
            answer = store.client.search_for_instances(
                study_instance_uid=study_uid,
                series_instance_uid=series_uid,
                fields=["00080018"],
                search_filters={"SOPInstanceUID": ",".join(chunk)},
            )
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                continue
            raise ImageStoreError("QIDO-RS failed") from exc
        except requests.RequestException as exc:
            raise ImageStoreError(f"QIDO-RS failed: {type(exc).__name__}") from exc
        found |= {row["00080018"]["Value"][0] for row in answer if "00080018" in row}
    return found & wanted


def store_batch(batch: list[PreparedInstance], store: ImageStore) -> None:
    """STOW-RS one batch of new instances; a failed batch rejects only its files."""
    if not batch:
        return
    try:
        outcome = store.store([p.dataset for p in batch])
    except (ImageStoreError, ValueError) as exc:  # ValueError: pydicom could not encode
        if len(batch) > 1:
            # Some stores keep the good part of a refused batch: store one by one,
            # so each file's outcome is its own and nothing stays unreported.
            for item in batch:
                store_batch([item], store)
            return
        _reject(batch, "store_failed", f"The image store did not accept the file ({exc}).")
        return
    for item in batch:
        if item.sop_uid in outcome.failed:
            _reject([item], "store_failed", outcome.failed[item.sop_uid])
        elif item.sop_uid not in outcome.stored:
            _reject([item], "store_unconfirmed", "The image store did not confirm the file.")


def store_batches(prepared: list[PreparedInstance], store: ImageStore, batch_size: int) -> None:
    """STOW-RS the accepted instances in batches, one after the other."""
    new = [p for p in prepared if p.outcome.status == FileStatus.ACCEPTED]
    for start in range(0, len(new), batch_size):
        store_batch(new[start : start + batch_size], store)


class StorePipeline:
    """Stores batches on one background thread, in submission order, while the
    caller prepares the next. Leaving the block waits for every batch, so outcomes
    are final afterwards; if the block raised, batches not yet started are dropped.

    The thread only does HTTP through the store client (no database access) and
    only touches the outcomes of the batch it was given."""

    def __init__(self, store: ImageStore) -> None:
        self._store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stow")
        self._futures: list[Future[None]] = []

    def submit(self, batch: list[PreparedInstance]) -> None:
        new = [p for p in batch if p.outcome.status == FileStatus.ACCEPTED]
        if new:
            self._futures.append(self._executor.submit(store_batch, new, self._store))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._executor.shutdown(wait=True, cancel_futures=exc_type is not None)
        if exc_type is None:
            for future in self._futures:
                future.result()  # an unexpected error in a batch is the caller's error


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

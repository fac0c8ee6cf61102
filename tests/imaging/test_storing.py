"""The store pipeline (imaging.storing) without a store: batches are checked on
a thread of their own and go out on STORE_WORKERS threads, each with its own
client, and every outcome is final when the block ends."""

import dataclasses
import threading
import time
from collections.abc import Sequence
from typing import Any

from imaging import storing
from imaging.dicomweb import ImageStore, ImageStoreError, StoreOutcome
from imaging.headers import InstanceHeader
from imaging.ingest import FileStatus, PreparedInstance


@dataclasses.dataclass
class FakeStore(ImageStore):
    """Stores whatever it gets (a file here is its SOP Instance UID), slowly;
    refuses files named in `refuse` as a batch does."""

    log: list[tuple[int, int, tuple[bytes, ...]]] = dataclasses.field(default_factory=list)
    refuse: frozenset[bytes] = frozenset()

    @property
    def client(self) -> Any:  # QIDO-RS: nothing is stored yet
        nothing = staticmethod(lambda *a, **k: [])
        return type("Client", (), {"search_for_instances": nothing, "search_for_series": nothing})()

    def store_files(self, files: Sequence[bytes]) -> StoreOutcome:
        time.sleep(0.01)
        self.log.append((threading.get_ident(), id(self), tuple(files)))
        if self.refuse & set(files):
            raise ImageStoreError("refused")
        return StoreOutcome(stored={f.decode() for f in files})


def _prepared(uid: str) -> PreparedInstance:
    header: Any = InstanceHeader.__new__(InstanceHeader)
    return PreparedInstance(f"{uid}.dcm", header, uid.encode(), "1.2", "1.2.3", uid)


def test_batches_are_stored_on_worker_threads_with_their_own_clients() -> None:
    log: list[tuple[int, int, tuple[bytes, ...]]] = []
    store = FakeStore("http://store.invalid/dicom-web", log=log, refuse=frozenset({b"8.1"}))
    batches = [[_prepared(f"{n}.{i}") for i in range(n % 3 + 1)] for n in range(10)]
    with storing.StorePipeline(store) as pipeline:
        for batch in batches:
            pipeline.submit(batch)
    items = [item for batch in batches for item in batch]
    assert all(item.encoded == b"" for item in items)  # released once stored
    statuses = {item.sop_uid: item.outcome.status for item in items}
    assert statuses.pop("8.1") == FileStatus.REJECTED  # only the refused file
    assert set(statuses.values()) == {FileStatus.ACCEPTED}
    stored = {f for _, _, files in log if len(files) == 1 or b"8.1" not in files for f in files}
    assert stored >= {uid.encode() for uid in statuses}
    threads = {thread for thread, _, _ in log}
    clients = {client for _, client, _ in log}
    assert threading.get_ident() not in threads
    assert 1 <= len(threads) <= storing.STORE_WORKERS
    assert len(clients) == len(threads) and id(store) not in clients  # never shared


def test_repeats_within_an_upload_are_duplicates() -> None:
    seen: set[str] = set()
    first, again = _prepared("1.1"), _prepared("1.1")
    storing.mark_repeats([first], seen)
    storing.mark_repeats([again], seen)
    assert first.outcome.status == FileStatus.ACCEPTED
    assert again.outcome.status == FileStatus.DUPLICATE


@dataclasses.dataclass
class HoldingStore(ImageStore):
    """Holds `held` (SOP Instance UIDs of series 1.2.3) and counts its QIDO-RS queries."""

    held: frozenset[str] = frozenset()
    queries: list[str] = dataclasses.field(default_factory=list)

    def series_instance_count(self, study_uid: str, series_uid: str) -> int:
        self.queries.append("count")
        return len(self.held) if series_uid == "1.2.3" else 0

    @property
    def client(self) -> Any:
        def search_for_instances(*_: Any, search_filters: dict[str, str], **__: Any) -> list:
            self.queries.append("uids")
            asked = search_filters["SOPInstanceUID"].split(",")
            return [{"00080018": {"Value": [uid]}} for uid in asked if uid in self.held]

        return type("Client", (), {"search_for_instances": staticmethod(search_for_instances)})()


def test_a_series_the_store_lacks_is_counted_once_not_queried_per_batch() -> None:
    store = HoldingStore("http://store.invalid/dicom-web")
    new_series = storing.NewSeries()
    batches = [[_prepared(f"{n}.{i}") for i in range(4)] for n in range(5)]
    for batch in batches:
        storing.mark_duplicates(batch, store, new_series)
    assert store.queries == ["count"]
    assert {item.outcome.status for batch in batches for item in batch} == {FileStatus.ACCEPTED}


def test_a_series_the_store_holds_is_checked_file_by_file() -> None:
    store = HoldingStore("http://store.invalid/dicom-web", held=frozenset({"2.1"}))
    new_series = storing.NewSeries()
    batches = [[_prepared(f"{n}.{i}") for i in range(2)] for n in range(3)]
    for batch in batches:
        storing.mark_duplicates(batch, store, new_series)
    assert store.queries == ["count", "uids", "uids", "uids"]
    statuses = {item.sop_uid: item.outcome.status for batch in batches for item in batch}
    assert statuses.pop("2.1") == FileStatus.DUPLICATE
    assert set(statuses.values()) == {FileStatus.ACCEPTED}


def test_a_series_the_index_holds_is_checked_file_by_file_without_a_count() -> None:
    store = HoldingStore("http://store.invalid/dicom-web", held=frozenset({"0.1"}))
    new_series = storing.NewSeries()
    new_series.mark_not_new({("1.2", "1.2.3")})
    batch = [_prepared(f"0.{i}") for i in range(3)]
    storing.mark_duplicates(batch, store, new_series)
    assert store.queries == ["uids"]
    assert [item.outcome.status for item in batch] == [
        FileStatus.ACCEPTED,
        FileStatus.DUPLICATE,
        FileStatus.ACCEPTED,
    ]


@dataclasses.dataclass
class MeetingStore(ImageStore):
    """Holds series 1.2.3 (so every batch is checked UID by UID). Storing batches
    "1" and "2" and checking batch "3" each wait until all three are under way."""

    meeting: threading.Barrier = dataclasses.field(default_factory=lambda: threading.Barrier(3))
    stored: list[bytes] = dataclasses.field(default_factory=list)

    def series_instance_count(self, study_uid: str, series_uid: str) -> int:
        return 1

    @property
    def client(self) -> Any:
        meeting = self.meeting

        def search_for_instances(*_: Any, search_filters: dict[str, str], **__: Any) -> list:
            if search_filters["SOPInstanceUID"].startswith("3."):
                meeting.wait(timeout=10)
            return []

        return type("Client", (), {"search_for_instances": staticmethod(search_for_instances)})()

    def store_files(self, files: Sequence[bytes]) -> StoreOutcome:
        if files[0][:2] in (b"1.", b"2."):
            self.meeting.wait(timeout=10)
        self.stored += files
        return StoreOutcome(stored={f.decode() for f in files})


def test_a_waiting_check_holds_no_store_slot() -> None:
    """A store answers queries after the STOW-RS requests it is busy with: a
    check waiting for its answer must leave every STOW-RS slot to the batches
    already checked (a shared pool would deadlock here until the timeout)."""
    store = MeetingStore("http://store.invalid/dicom-web")
    batches = [[_prepared(f"{n}.{i}") for i in range(2)] for n in (1, 2, 3)]
    with storing.StorePipeline(store) as pipeline:
        for batch in batches:
            pipeline.submit(batch)
    assert not store.meeting.broken
    assert sorted(store.stored) == sorted(item.sop_uid.encode() for b in batches for item in b)
    assert {item.outcome.status for b in batches for item in b} == {FileStatus.ACCEPTED}

"""The platform's one client of the image store, over DICOMweb (STOW-RS,
QIDO-RS, WADO-RS) so that Orthanc can be replaced by any DICOMweb PACS.
Credentials come from settings; nothing here is reachable by browsers."""

import io
import logging
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pydicom
import requests
from dicomweb_client import DICOMwebClient
from django.conf import settings
from pydicom import Dataset
from pydicom.dataset import FileDataset

from imaging.headers import int_or_none

logger = logging.getLogger(__name__)
# STOW-RS response attributes (PS3.18 10.5.3), as DICOM JSON keys.
REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"


class ImageStoreError(Exception):
    """The image store could not be reached or refused the request."""


@dataclass(frozen=True)
class StoreOutcome:
    stored: set[str] = field(default_factory=set)  # SOP Instance UIDs
    failed: dict[str, str] = field(default_factory=dict)  # SOP Instance UID -> reason


@dataclass
class ImageStore:
    base_url: str
    username: str = ""
    password: str = ""
    timeout_s: float = 60.0

    @cached_property
    def session(self) -> requests.Session:
        session = requests.Session()
        # The store is an internal service: no HTTP_PROXY or netrc from the
        # environment, whose lookup also costs ~3 ms of CPU on every request.
        session.trust_env = False
        if self.username:
            session.auth = (self.username, self.password)
        return session

    @cached_property
    def client(self) -> DICOMwebClient:
        client = DICOMwebClient(url=self.base_url, session=self.session, timeout=self.timeout_s)
        # The library's default retries any error 5 times over 30 s; a user waits on
        # this, so retry briefly and report the store as unavailable instead.
        client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=100)
        return client

    def store(self, datasets: Sequence[Dataset]) -> StoreOutcome:
        """STOW-RS one batch of data sets (encoded here with pydicom)."""
        encoded = []
        for ds in datasets:
            buffer = io.BytesIO()
            pydicom.dcmwrite(buffer, _as_part10(ds))
            encoded.append(buffer.getvalue())
        return self.store_files(encoded)

    def store_files(self, files: Sequence[bytes]) -> StoreOutcome:
        """STOW-RS one batch of Part-10 files, sent as they are (one
        multipart/related request, no re-encoding). Orthanc answers 200 with an
        empty FailedSOPSequence on success, so success is judged per instance
        from the response; a refused request (4xx/5xx) raises."""
        boundary = secrets.token_hex(16)
        head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        pieces = [piece for data in files for piece in (head, data, b"\r\n")]
        pieces.append(f"--{boundary}--\r\n".encode())
        body = _Body(pieces)
        headers = {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        }
        url = f"{self.base_url.rstrip('/')}/studies"
        try:
            response = self.session.post(
                url,
                data=body,
                headers=headers,
                timeout=self.timeout_s,
            )
            response.raise_for_status()
            answer = response.json() if response.content else {}
        except (requests.RequestException, OSError, ValueError) as exc:
            raise ImageStoreError(f"STOW-RS failed: {type(exc).__name__}") from exc
        failed = {
            uid: f"store refused (reason {_first(item, FAILURE_REASON, '?')})"
            for item in _sequence(answer, FAILED_SOP_SEQUENCE)
            if (uid := _first(item, REFERENCED_SOP_INSTANCE_UID))
        }
        stored = {
            uid
            for item in _sequence(answer, REFERENCED_SOP_SEQUENCE)
            if (uid := _first(item, REFERENCED_SOP_INSTANCE_UID))
        }
        return StoreOutcome(stored=stored - set(failed), failed=failed)

    def series_instance_count(self, study_uid: str, series_uid: str) -> int:
        """Instances of the series in the store, from one series-level QIDO-RS answer
        (Number of Series Related Instances, which Orthanc takes from its index: a few
        ms, where listing the instances reads every stored file). Stores that leave
        the attribute out are asked for the instance list instead."""
        try:
            rows = self.client.search_for_series(
                study_instance_uid=study_uid,
                fields=["00201209"],
                search_filters={"SeriesInstanceUID": series_uid},
            )
        except requests.RequestException as exc:
            raise ImageStoreError(f"QIDO-RS failed: {type(exc).__name__}") from exc
        for row in rows:
            if row.get("0020000E", {}).get("Value") != [series_uid]:
                continue
            count = int_or_none((row.get("00201209", {}).get("Value") or [None])[0])
            if count is not None:
                return count
        return len(self.instance_uids(study_uid, series_uid))

    def instance_uids(self, study_uid: str, series_uid: str) -> set[str]:
        """SOP Instance UIDs already stored in a series (empty if none)."""
        try:
            found = self.client.search_for_instances(
                study_instance_uid=study_uid,
                series_instance_uid=series_uid,
                fields=["00080018"],
            )
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return set()
            raise ImageStoreError(f"QIDO-RS failed: HTTP {exc.response.status_code}") from exc
        except requests.RequestException as exc:
            raise ImageStoreError(f"QIDO-RS failed: {type(exc).__name__}") from exc
        return {item["00080018"]["Value"][0] for item in found if "00080018" in item}

    def get(
        self,
        path: str,
        *,
        params: Any = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """A raw GET under the DICOMweb root, for the streaming proxy."""
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        try:
            return self.session.get(
                url, params=params, headers=headers, stream=stream, timeout=self.timeout_s
            )
        except requests.RequestException as exc:
            raise ImageStoreError(f"image store unreachable: {type(exc).__name__}") from exc


class _Body:
    """A request body sent piece by piece with a Content-Length: requests and
    urllib3 then hand each piece to the socket as it is, without first joining
    a batch of files into one more copy."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._pieces)

    def __len__(self) -> int:
        return sum(len(piece) for piece in self._pieces)


def _values(item: Any, tag: str) -> list[Any]:
    """The Value list of one attribute in DICOM JSON (PS3.18 F.2); [] if absent or odd."""
    element = item.get(tag) if isinstance(item, dict) else None
    values = element.get("Value") if isinstance(element, dict) else None
    return values if isinstance(values, list) else []


def _sequence(answer: Any, tag: str) -> list[dict[str, Any]]:
    return [item for item in _values(answer, tag) if isinstance(item, dict)]


def _first(item: dict[str, Any], tag: str, default: str = "") -> str:
    values = _values(item, tag)
    return str(values[0]) if values else default


def _as_part10(ds: Dataset) -> FileDataset:
    """A Part-10 dataset with preamble: without it Orthanc stores bytes that
    WADO-RS later returns unreadable."""
    if isinstance(ds, FileDataset) and ds.preamble:
        return ds
    implicit = ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    return FileDataset(
        None,
        ds,
        file_meta=ds.file_meta,
        preamble=b"\x00" * 128,
        is_implicit_VR=implicit,
        is_little_endian=True,
    )


def image_store() -> ImageStore:
    return ImageStore(
        base_url=settings.DICOMWEB_URL,
        username=settings.DICOMWEB_USERNAME,
        password=settings.DICOMWEB_PASSWORD,
    )

"""The platform's one client of the image store, over DICOMweb (STOW-RS,
QIDO-RS, WADO-RS) so that Orthanc can be replaced by any DICOMweb PACS.
Credentials come from settings; nothing here is reachable by browsers."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import requests
from dicomweb_client import DICOMwebClient
from django.conf import settings
from pydicom import Dataset
from pydicom.dataset import FileDataset

logger = logging.getLogger(__name__)


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
        """STOW-RS one batch. Orthanc answers 200 with an empty FailedSOPSequence
        on success, so success is judged per instance from the response."""
        files = [_as_part10(ds) for ds in datasets]
        try:
            response = self.client.store_instances(files)
        except (requests.RequestException, OSError) as exc:
            raise ImageStoreError(f"STOW-RS failed: {type(exc).__name__}") from exc
        failed = {
            str(
                item.ReferencedSOPInstanceUID
            ): f"store refused (reason {item.get('FailureReason', '?')})"
            for item in response.get("FailedSOPSequence", [])
        }
        stored = {
            str(item.ReferencedSOPInstanceUID) for item in response.get("ReferencedSOPSequence", [])
        }
        return StoreOutcome(stored=stored - set(failed), failed=failed)

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

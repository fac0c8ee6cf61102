"""Reading a series from the image store over DICOMweb (the worker's only
path to pixels). Instances stream in as they arrive, so decoding and the
model's forward pass can start before the whole series is here."""

from collections.abc import Iterator
from dataclasses import dataclass, field

import requests
from dicomweb_client import DICOMwebClient
from pydicom import Dataset
from pydicom.dataset import FileDataset
from pydicom.tag import Tag

from ml_worker import config

PIXEL_TAGS = {Tag("PixelData"), Tag("FloatPixelData"), Tag("DoubleFloatPixelData")}


class FetchError(Exception):
    """The series could not be read from the image store."""


def dicomweb_client(url: str | None = None) -> DICOMwebClient:
    session = requests.Session()
    if config.DICOMWEB_USERNAME:
        session.auth = (config.DICOMWEB_USERNAME, config.DICOMWEB_PASSWORD)
    client = DICOMwebClient(url=url or config.DICOMWEB_URL, session=session, timeout=120)
    client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=200)
    return client


def header_only(ds: Dataset) -> Dataset:
    """The dataset without its pixels: what sorting, decoding and the SR need,
    at a few KiB per slice instead of the image."""
    header = Dataset()
    for element in ds:
        if element.tag not in PIXEL_TAGS:
            header.add(element)
    if hasattr(ds, "file_meta"):
        header.file_meta = ds.file_meta
    return header


@dataclass
class SeriesStream:
    """Iterates the instances of a series as they arrive, keeping their headers."""

    client: DICOMwebClient
    study_uid: str
    series_uid: str
    headers: list[Dataset] = field(default_factory=list)

    def __iter__(self) -> Iterator[Dataset]:
        try:
            for ds in self.client.iter_series(self.study_uid, self.series_uid):
                self.headers.append(header_only(ds))
                yield ds
        except requests.RequestException as exc:
            raise FetchError(f"could not read the series from the image store: {exc}") from exc
        if not self.headers:
            raise FetchError("the series holds no instances")


def store_instance(client: DICOMwebClient, ds: Dataset) -> None:
    """STOW-RS one instance (written as Part 10 with a preamble: Orthanc keeps
    the bytes as sent and WADO-RS would later return them unreadable otherwise)."""
    part10 = FileDataset(
        None,
        ds,
        file_meta=ds.file_meta,
        preamble=b"\x00" * 128,
        is_implicit_VR=False,
        is_little_endian=True,
    )
    try:
        response = client.store_instances([part10])
    except requests.RequestException as exc:
        raise FetchError(f"could not store the result in the image store: {exc}") from exc
    if len(response.get("FailedSOPSequence", [])):
        raise FetchError("the image store refused the result")

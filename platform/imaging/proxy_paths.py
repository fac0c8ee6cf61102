"""What the DICOMweb proxy serves and the pure helpers behind it: the resource
table (one entry per route), strict path converters, upstream paths, URL
rewriting and QIDO paging. No I/O here; the views are in imaging.proxy."""

import json
import re
from dataclasses import dataclass
from typing import Any

UID_MAX_LENGTH = 64
STUDY_UID_TAG = "0020000D"
PAGING_PARAMS = ("limit", "offset")


class DicomUidConverter:
    """A DICOM UID: digits in dot-separated components, at most 64 characters.
    Anything else fails to match, so it never reaches the image store."""

    regex = r"[0-9]+(?:\.[0-9]+)*"

    def to_python(self, value: str) -> str:
        if len(value) > UID_MAX_LENGTH:
            raise ValueError("UID too long")
        return value

    def to_url(self, value: str) -> str:
        return value


class FrameNumberConverter(DicomUidConverter):
    """One 1-based frame number."""

    regex = r"[1-9][0-9]{0,5}"


class FrameListConverter(DicomUidConverter):
    """A comma-separated list of 1-based frame numbers (WADO-RS frame list)."""

    regex = r"[1-9][0-9]{0,5}(?:,[1-9][0-9]{0,5}){0,255}"


class BulkTagConverter(DicomUidConverter):
    """The tag path Orthanc puts in BulkDataURI: a tag, or sequence/item/tag steps."""

    regex = r"[0-9a-fA-F]{8}(?:/[0-9]{1,5}/[0-9a-fA-F]{8}){0,8}"


CONVERTERS = {
    "dicom_uid": DicomUidConverter,
    "dicom_frame": FrameNumberConverter,
    "dicom_frames": FrameListConverter,
    "dicom_bulk": BulkTagConverter,
}


@dataclass(frozen=True)
class Resource:
    """One proxied DICOMweb resource. `pattern` is both the Django route (below
    the proxy root) and, with its parameters filled in, the upstream path.
    `rewrite`: the answer is JSON/XML carrying URLs, so it is read whole and
    its URLs are pointed at the proxy; everything else streams through."""

    name: str
    pattern: str
    rewrite: bool = False


_STUDY = "studies/<dicom_uid:study_uid>"
_SERIES = f"{_STUDY}/series/<dicom_uid:series_uid>"
_INSTANCE = f"{_SERIES}/instances/<dicom_uid:instance_uid>"

SEARCH_STUDIES = Resource("search_studies", "studies", rewrite=True)
RESOURCES: tuple[Resource, ...] = (
    SEARCH_STUDIES,
    Resource("search_series", f"{_STUDY}/series", rewrite=True),
    Resource("search_instances", f"{_SERIES}/instances", rewrite=True),
    Resource("study_metadata", f"{_STUDY}/metadata", rewrite=True),
    Resource("series_metadata", f"{_SERIES}/metadata", rewrite=True),
    Resource("instance_metadata", f"{_INSTANCE}/metadata", rewrite=True),
    Resource("series", _SERIES),
    Resource("series_rendered", f"{_SERIES}/rendered"),
    Resource("instance", _INSTANCE),
    Resource("instance_rendered", f"{_INSTANCE}/rendered"),
    Resource("frames", f"{_INSTANCE}/frames/<dicom_frames:frames>"),
    Resource("frame_rendered", f"{_INSTANCE}/frames/<dicom_frame:frame>/rendered"),
    Resource("bulk", f"{_INSTANCE}/bulk/<dicom_bulk:tag>"),
)

_PLACEHOLDER = re.compile(r"<\w+:(\w+)>")


def upstream_path(resource: Resource, params: dict[str, str]) -> str:
    """The resource's path below the image store's DICOMweb root."""
    return _PLACEHOLDER.sub(lambda match: params[match.group(1)], resource.pattern)


def proxy_root(request_path: str, resource_path: str) -> str:
    """The proxy's mount point ("/dicomweb/"), from the request path and the
    resource path it ends with; independent of where urls.py mounts it."""
    return request_path[: len(request_path) - len(resource_path)]


def rewrite_urls(body: bytes, replacements: list[tuple[str, str]]) -> bytes:
    """Point the image store's URLs (BulkDataURI, RetrieveURL) at the proxy."""
    for old, new in replacements:
        body = body.replace(old.encode(), new.encode())
    return body


def split_paging(query_string: str) -> tuple[str, int, int | None]:
    """Remove QIDO limit/offset from a raw query string: they must apply after
    the permission filter, not before. The rest stays byte for byte."""
    kept: list[str] = []
    paging: dict[str, int] = {}
    for item in query_string.split("&"):
        name, _, value = item.partition("=")
        if name in PAGING_PARAMS:
            paging[name] = int(value) if value.isdigit() else 0
        elif item:
            kept.append(item)
    return "&".join(kept), paging.get("offset", 0), paging.get("limit") or None


def filter_studies(
    body: bytes, permitted: set[str], *, offset: int, limit: int | None
) -> tuple[bytes, int]:
    """Keep the QIDO study results whose StudyInstanceUID is permitted, then page."""
    results: list[dict[str, Any]] = json.loads(body or b"[]")
    kept = [item for item in results if _study_uid(item) in permitted]
    page = kept[offset : offset + limit if limit else None]
    return json.dumps(page, separators=(",", ":")).encode(), len(page)


def _study_uid(item: dict[str, Any]) -> str | None:
    values = item.get(STUDY_UID_TAG, {}).get("Value") or [None]
    return values[0]

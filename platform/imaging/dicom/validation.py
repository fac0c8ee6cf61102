"""Validation of uploaded DICOM files before anything is stored (zip archives:
``imaging.dicom.archives``).

Every refusal is a ``DicomRejected`` (``ArchiveRejected`` for a zip) carrying a
stable machine ``reason_code`` for the API and a human ``message``. Messages never
quote values from the file: a rejected upload may be full of PHI.

An instance that parses but must not be stored for research (secondary captures,
structured reports including radiation dose SRs, burned-in annotations) is not an
error: ``validate_dicom_bytes`` returns it with ``quarantine`` set so ingest can
report it without storing it.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException
from pydicom.pixels import iter_pixels
from pydicom.tag import BaseTag
from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from imaging.dicom.elements import vr_of
from imaging.dicom.part10 import ElementSpan, element_span

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
ACCEPTED_SOP_CLASSES = frozenset({CT_IMAGE_STORAGE, ENHANCED_CT_IMAGE_STORAGE})
# Secondary Capture family (PS3.4 B.5): screenshots, often with burned-in text.
SECONDARY_CAPTURE_CLASSES = frozenset(
    "1.2.840.10008.5.1.4.1.1.7" + suffix for suffix in ("", ".1", ".2", ".3", ".4")
)
# Every Structured Report class, the X-Ray Radiation Dose SR (...88.67) included.
STRUCTURED_REPORT_PREFIX = "1.2.840.10008.5.1.4.1.1.88."

UNCOMPRESSED_SYNTAXES = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian})
COMPRESSED_SYNTAXES = frozenset(
    {
        JPEG2000Lossless,
        JPEG2000,
        JPEGLSLossless,
        JPEGLSNearLossless,
        JPEGLossless,
        JPEGLosslessSV1,
        RLELossless,
    }
)
# Deflated and big-endian syntaxes are left out on purpose: deflate inflates the whole
# data set without a bound, and neither is produced by current CT scanners.
ALLOWED_TRANSFER_SYNTAXES = UNCOMPRESSED_SYNTAXES | COMPRESSED_SYNTAXES

REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
DEFAULT_MAX_PIXEL_BYTES = 1 << 30  # decoded size; bounds decompression of a tiny upload
_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_UNDEFINED_LENGTH = 0xFFFFFFFF
# Binary numbers pydicom refuses to convert unless the value fills whole numbers.
_FIXED_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "SV": 8, "UV": 8}


class DicomRejected(Exception):
    """An upload refused before storage: ``reason_code`` for machines, ``message`` for people."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message


class ArchiveRejected(DicomRejected):
    """A zip upload refused as a whole (unsafe or malformed archive)."""


@dataclass(frozen=True)
class ValidatedInstance:
    """A parsed instance that passed validation; ``quarantine`` means report, don't store."""

    dataset: Dataset
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    quarantine: bool = False
    quarantine_reason: str | None = None
    # Where each top-level element lies in the validated bytes (see imaging.dicom.part10).
    spans: Mapping[int, ElementSpan] = field(default_factory=dict)


def validate_dicom_bytes(
    data: bytes, *, max_bytes: int, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES
) -> ValidatedInstance:
    """Parse and check one uploaded file; raise ``DicomRejected`` when it is refused."""
    if not data:
        raise DicomRejected("empty", "The file is empty.")
    if len(data) > max_bytes:
        raise DicomRejected("too_large", f"The file is larger than {max_bytes} bytes.")
    ds, spans = _parse(data)
    try:
        return _check(ds, spans, max_pixel_bytes)
    except DicomRejected:
        raise
    except Exception as exc:  # a value converted on first read (e.g. IS "1e400")
        raise DicomRejected(
            "unreadable", f"The file could not be parsed as DICOM ({type(exc).__name__})."
        ) from exc


def _check(ds: Dataset, spans: dict[int, ElementSpan], max_pixel_bytes: int) -> ValidatedInstance:
    transfer_syntax = _transfer_syntax(ds)
    uids = _required_uids(ds)
    reason = _quarantine_reason(uids["SOPClassUID"], ds)
    if reason is None:
        if transfer_syntax not in ALLOWED_TRANSFER_SYNTAXES:
            raise DicomRejected(
                "transfer_syntax_not_allowed",
                f"Transfer syntax {transfer_syntax} is not accepted.",
            )
        _check_pixel_data(ds, transfer_syntax, max_pixel_bytes)
    return ValidatedInstance(
        dataset=ds,
        sop_class_uid=uids["SOPClassUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        transfer_syntax_uid=transfer_syntax,
        quarantine=reason is not None,
        quarantine_reason=reason,
        spans=spans,
    )


def is_valid_uid(value: str) -> bool:
    """PS3.5 9.1: digits and dots, no leading zeros in a component, at most 64 chars."""
    return 0 < len(value) <= 64 and _UID_RE.match(value) is not None


def _parse(data: bytes) -> tuple[Dataset, dict[int, ElementSpan]]:
    if len(data) < 132 or data[128:132] != b"DICM":
        raise DicomRejected(
            "not_dicom", "The file is not a DICOM Part 10 file (no preamble and DICM prefix)."
        )
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        _check_not_truncated(ds.file_meta)
        for _ in ds.file_meta.iterall():  # values convert lazily: force these now
            pass
        spans = _check_elements(ds, data)
    except DicomRejected:
        raise
    except Exception as exc:  # untrusted bytes: pydicom raises many types on garbage
        raise DicomRejected(
            "unreadable", f"The file could not be parsed as DICOM ({type(exc).__name__})."
        ) from exc
    if not ds.file_meta or "TransferSyntaxUID" not in ds.file_meta:
        raise DicomRejected("missing_file_meta", "The DICOM file meta information is missing.")
    if any(tag.group == 0x0002 for tag in ds.keys()):  # noqa: SIM118 (tags, not elements)
        # pydicom refuses to write such a file, so it could never be stored.
        raise DicomRejected("misplaced_file_meta", "File meta elements appear in the data set.")
    return ds, spans


def _check_elements(ds: Dataset, data: bytes) -> dict[int, ElementSpan]:
    """Check each top-level element without converting its value, and return
    where each lies in ``data`` (only unconverted elements know that).

    Values are converted where they are used: by de-identification (what it
    changes, and every sequence it keeps) and by the index (what it reads), both
    before anything is stored; the rest is removed, or copied to the store byte
    for byte. Here: no value cut short (pydicom keeps a value cut short by the
    end of the file), and binary numbers that fill whole values, as pydicom
    demands when converting."""
    spans: dict[int, ElementSpan] = {}
    for tag, raw in ds.items():  # items, not elements: no value conversion
        if not isinstance(raw, RawDataElement) or raw.value is None:
            continue
        _check_not_cut_short(raw)
        size = _FIXED_SIZES.get(vr_of(raw, ds))
        if size and len(raw.value) % size and not BaseTag(tag).is_private:
            raise BytesLengthException("A binary value does not fill whole numbers.")
        span = element_span(raw, data)
        if span is not None:
            spans[int(tag)] = span
    return spans


def _check_not_truncated(dataset: Dataset) -> None:
    for raw in dataset.values():  # values, not elements: no value conversion yet
        if isinstance(raw, RawDataElement) and raw.value is not None:
            _check_not_cut_short(raw)


def _check_not_cut_short(raw: RawDataElement) -> None:
    """pydicom keeps a value cut short by end of file; compare it with its declared length."""
    if raw.length != _UNDEFINED_LENGTH and len(raw.value) < raw.length:
        raise DicomRejected("truncated", "The file ends in the middle of an element.")


def _transfer_syntax(ds: Dataset) -> str:
    value = str(ds.file_meta.TransferSyntaxUID).strip("\0 ")
    if not is_valid_uid(value):
        raise DicomRejected("invalid_uid", "The transfer syntax UID is malformed.")
    return value


def _required_uids(ds: Dataset) -> dict[str, str]:
    try:
        return _read_required_uids(ds)
    except DicomRejected:
        raise
    except Exception as exc:  # a malformed value that pydicom cannot convert
        raise DicomRejected("unreadable", "A required UID could not be read.") from exc


def _read_required_uids(ds: Dataset) -> dict[str, str]:
    uids: dict[str, str] = {}
    for keyword in REQUIRED_UIDS:
        value = str(ds.get(keyword, "") or "").strip("\0 ")
        if not value:
            raise DicomRejected("missing_uid", f"{keyword} is missing or empty.")
        if not is_valid_uid(value):
            raise DicomRejected("invalid_uid", f"{keyword} is not a valid DICOM UID.")
        uids[keyword] = value
    meta = ds.file_meta
    meta_pairs = (
        ("MediaStorageSOPClassUID", "SOPClassUID"),
        ("MediaStorageSOPInstanceUID", "SOPInstanceUID"),
    )
    for meta_keyword, keyword in meta_pairs:
        if meta_keyword in meta and str(meta[meta_keyword].value).strip("\0 ") != uids[keyword]:
            raise DicomRejected(
                "meta_mismatch", f"File meta {meta_keyword} does not match {keyword}."
            )
    return uids


def _quarantine_reason(sop_class: str, ds: Dataset) -> str | None:
    """None to accept; a reason to quarantine; raises for classes refused outright."""
    if sop_class in SECONDARY_CAPTURE_CLASSES:
        return "secondary_capture"
    if sop_class.startswith(STRUCTURED_REPORT_PREFIX):
        return "structured_report"
    if sop_class not in ACCEPTED_SOP_CLASSES:
        raise DicomRejected(
            "sop_class_not_allowed", f"SOP Class {sop_class} is not accepted (CT images only)."
        )
    if str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES":
        return "burned_in_annotation"
    return None


def _image_int(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    try:
        number = int(value) if value not in (None, "") else -1
    except (TypeError, ValueError):
        number = -1
    if number <= 0:
        raise DicomRejected("bad_image_geometry", f"{keyword} is missing or not positive.")
    return number


def _expected_pixel_bytes(ds: Dataset) -> tuple[tuple[int, ...], int]:
    """Decoded frame shape (rows, cols[, samples]) and total byte count of all frames."""
    rows, columns = _image_int(ds, "Rows"), _image_int(ds, "Columns")
    bits = _image_int(ds, "BitsAllocated")
    samples = _image_int(ds, "SamplesPerPixel", 1)
    frames = _image_int(ds, "NumberOfFrames", 1)
    if bits not in (8, 16, 32) or samples not in (1, 3):
        raise DicomRejected(
            "bad_image_geometry", "BitsAllocated or SamplesPerPixel has an unsupported value."
        )
    shape = (rows, columns) if samples == 1 else (rows, columns, samples)
    return shape, rows * columns * samples * (bits // 8) * frames


def _check_pixel_data(ds: Dataset, transfer_syntax: str, max_pixel_bytes: int) -> None:
    if "PixelData" not in ds or ds.PixelData in (None, b""):
        raise DicomRejected("missing_pixel_data", "The image has no pixel data.")
    frame_shape, expected = _expected_pixel_bytes(ds)
    if expected > max_pixel_bytes:
        raise DicomRejected(
            "pixel_too_large", f"The decoded image would exceed {max_pixel_bytes} bytes."
        )
    if transfer_syntax in UNCOMPRESSED_SYNTAXES:
        actual = len(ds.PixelData)
        # An odd-length value carries one trailing pad byte (PS3.5 7.1.1).
        if actual != expected + (expected % 2):
            raise DicomRejected(
                "pixel_length_mismatch",
                f"Pixel data holds {actual} bytes; the image attributes imply {expected}.",
            )
        return
    _check_encapsulation(ds.PixelData)
    _check_decoded_frames(ds, frame_shape, _image_int(ds, "NumberOfFrames", 1))


def _check_encapsulation(value: bytes) -> None:
    """Every item of encapsulated pixel data must be whole: some decoders accept a
    cut-short last fragment that the image store then refuses (PS3.5 A.4)."""
    position = 0
    while position < len(value):
        if len(value) - position < 8:
            raise DicomRejected("bad_encapsulation", "The compressed pixel data is cut short.")
        group, element, length = struct.unpack_from("<HHI", value, position)
        if (group, element) != (0xFFFE, 0xE000) or length > len(value) - position - 8:
            raise DicomRejected(
                "bad_encapsulation", "The compressed pixel data has a broken item structure."
            )
        position += 8 + length


def _check_decoded_frames(ds: Dataset, frame_shape: tuple[int, ...], frames: int) -> None:
    """Decode every frame (pylibjpeg / pydicom handlers) and compare with the header."""
    decoded = 0
    try:
        for frame in iter_pixels(ds):
            if frame.shape != frame_shape:
                raise DicomRejected(
                    "pixel_shape_mismatch",
                    f"A decoded frame has shape {frame.shape}, expected {frame_shape}.",
                )
            decoded += 1
    except DicomRejected:
        raise
    except Exception as exc:  # decoders raise many types on corrupt codestreams
        raise DicomRejected(
            "pixel_decode_failed",
            f"The compressed pixel data could not be decoded ({type(exc).__name__}).",
        ) from exc
    if decoded != frames:
        raise DicomRejected(
            "pixel_shape_mismatch", f"Decoded {decoded} frames, NumberOfFrames is {frames}."
        )

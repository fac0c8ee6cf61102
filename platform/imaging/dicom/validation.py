"""Validation of uploaded DICOM files and zip archives before anything is stored.

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
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.pixels import iter_pixels
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
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_JUNK_DIRS = frozenset({"__MACOSX"})
_JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_READ_CHUNK = 1 << 16
_UNDEFINED_LENGTH = 0xFFFFFFFF


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


def validate_dicom_bytes(
    data: bytes, *, max_bytes: int, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES
) -> ValidatedInstance:
    """Parse and check one uploaded file; raise ``DicomRejected`` when it is refused."""
    if not data:
        raise DicomRejected("empty", "The file is empty.")
    if len(data) > max_bytes:
        raise DicomRejected("too_large", f"The file is larger than {max_bytes} bytes.")
    ds = _parse(data)
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
    )


def is_valid_uid(value: str) -> bool:
    """PS3.5 9.1: digits and dots, no leading zeros in a component, at most 64 chars."""
    return 0 < len(value) <= 64 and _UID_RE.match(value) is not None


def _parse(data: bytes) -> Dataset:
    if len(data) < 132 or data[128:132] != b"DICM":
        raise DicomRejected(
            "not_dicom", "The file is not a DICOM Part 10 file (no preamble and DICM prefix)."
        )
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        _check_not_truncated(ds)
        for _ in ds.iterall():  # values convert lazily: force every one now
            pass
        for _ in ds.file_meta.iterall():
            pass
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
    return ds


def _check_not_truncated(ds: Dataset) -> None:
    """pydicom keeps a value cut short by end of file; compare it with its declared length."""
    for dataset in (ds.file_meta, ds):
        for tag in list(dataset.keys()):  # keys, not elements: no value conversion yet
            raw = dataset.get_item(tag)
            if not isinstance(raw, RawDataElement) or raw.value is None:
                continue
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


def iter_zip_members(
    data: bytes,
    *,
    max_members: int,
    max_total_uncompressed: int,
    max_member_bytes: int,
    max_ratio: float,
) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) for each regular file in a zip, safely.

    The whole central directory is checked before the first member is yielded, so a
    structurally unsafe archive is refused before any of it is processed. Sizes are
    then enforced again while inflating: headers can lie.
    """
    archive = _open_zip(data)
    members = _checked_members(archive, max_members=max_members)
    _check_declared_sizes(
        members,
        max_total_uncompressed=max_total_uncompressed,
        max_member_bytes=max_member_bytes,
        max_ratio=max_ratio,
    )
    total = 0
    for info in members:
        content = _read_member(archive, info, max_member_bytes, max_ratio)
        total += len(content)
        if total > max_total_uncompressed:
            raise ArchiveRejected(
                "zip_too_large_total",
                f"The archive expands to more than {max_total_uncompressed} bytes.",
            )
        yield info.filename, content


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        ValueError,
        EOFError,
        NotImplementedError,
    ) as exc:
        raise ArchiveRejected("zip_invalid", "The upload is not a readable zip archive.") from exc


def _checked_members(archive: zipfile.ZipFile, *, max_members: int) -> list[zipfile.ZipInfo]:
    """Structural checks on every entry; returns the regular, non-junk files."""
    infos = archive.infolist()
    if len(infos) > max_members:
        raise ArchiveRejected(
            "zip_too_many_members", f"The archive has more than {max_members} entries."
        )
    names: set[str] = set()
    offsets: set[int] = set()
    members = []
    for info in infos:
        _check_member_name(info.filename)
        _check_member_type(info)
        if info.filename in names or info.header_offset in offsets:
            # Repeated names hide files; shared offsets are the overlapping-entry bomb.
            raise ArchiveRejected("zip_duplicate_member", "The archive repeats an entry.")
        names.add(info.filename)
        offsets.add(info.header_offset)
        if info.is_dir() or _is_junk(info.filename):
            continue
        if info.flag_bits & 0x41:  # bit 0 traditional, bit 6 strong encryption
            raise ArchiveRejected("zip_encrypted", "The archive contains an encrypted entry.")
        if info.compress_type not in _ZIP_METHODS:
            raise ArchiveRejected(
                "zip_unsupported_compression",
                "Only stored and deflated zip entries are accepted.",
            )
        members.append(info)
    return members


def _check_member_name(name: str) -> None:
    parts = name.split("/")
    unsafe = (
        not name
        or name.startswith("/")
        or "\\" in name
        or _DRIVE_RE.match(name) is not None
        or ".." in parts
        or any(ord(char) < 32 for char in name)
    )
    if unsafe:
        raise ArchiveRejected(
            "zip_unsafe_path", "The archive contains an entry with an unsafe path."
        )


def _check_member_type(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16  # Unix mode bits, when the creator recorded them
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise ArchiveRejected("zip_symlink", "The archive contains a symbolic link.")
    if mode and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveRejected(
            "zip_special_file", "The archive contains a device, pipe or socket entry."
        )


def _is_junk(name: str) -> bool:
    parts = [part for part in name.split("/") if part]
    if not parts:
        return True
    base = parts[-1]
    return bool(_JUNK_DIRS.intersection(parts)) or base in _JUNK_FILES or base.startswith("._")


def _check_declared_sizes(
    members: list[zipfile.ZipInfo],
    *,
    max_total_uncompressed: int,
    max_member_bytes: int,
    max_ratio: float,
) -> None:
    total = 0
    for info in members:
        if info.file_size > max_member_bytes:
            raise ArchiveRejected(
                "zip_member_too_large",
                f"An entry is larger than {max_member_bytes} bytes uncompressed.",
            )
        _check_ratio(info.file_size, info.compress_size, max_ratio)
        total += info.file_size
    if total > max_total_uncompressed:
        raise ArchiveRejected(
            "zip_too_large_total",
            f"The archive declares more than {max_total_uncompressed} bytes uncompressed.",
        )


def _check_ratio(uncompressed: int, compressed: int, max_ratio: float) -> None:
    if uncompressed and uncompressed > max_ratio * max(compressed, 1):
        raise ArchiveRejected(
            "zip_ratio_exceeded",
            f"An entry's compression ratio exceeds {max_ratio:g}; possible zip bomb.",
        )


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_member_bytes: int, max_ratio: float
) -> bytes:
    """Inflate one entry in chunks, stopping as soon as a limit is crossed."""
    limit = min(max_member_bytes, int(max_ratio * max(info.compress_size, 1)))
    buffer = bytearray()
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_READ_CHUNK):
                buffer += chunk
                if len(buffer) > limit:
                    _check_ratio(len(buffer), info.compress_size, max_ratio)
                    raise ArchiveRejected(
                        "zip_member_too_large",
                        f"An entry expands beyond {max_member_bytes} bytes.",
                    )
    except ArchiveRejected:
        raise
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        RuntimeError,
        zlib.error,
        NotImplementedError,
    ) as exc:
        raise ArchiveRejected(
            "zip_corrupt_member", "An archive entry is corrupt (bad data or checksum)."
        ) from exc
    return bytes(buffer)

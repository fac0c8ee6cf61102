"""Part-10 encoding of a de-identified instance, written once.

Most of an instance comes out of de-identification untouched: the pixel data
and the technical attributes. Their encoded bytes are copied from the uploaded
file (byte ranges recorded while parsing, before any value was converted), and
only the elements the profile changed or added are encoded with pydicom.
Re-encoding every element cost about as much as parsing and checking it.

A copied range is exactly one top-level element of the upload, checked when it
is recorded (its tag, VR and length, or the delimiter that ends an undefined
length), and copied only when the output uses the same encoding and VR."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Set
from dataclasses import dataclass

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import (
    correct_ambiguous_vr,
    correct_ambiguous_vr_element,
    write_data_element,
    write_file_meta_info,
)
from pydicom.uid import UID
from pydicom.valuerep import AMBIGUOUS_VR, EXPLICIT_VR_LENGTH_32

PREAMBLE = b"\x00" * 128 + b"DICM"
_UNDEFINED_LENGTH = 0xFFFFFFFF
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_PIXEL_DATA = 0x7FE00010
_TAG = struct.Struct("<HH")
_META_OB = struct.Struct("<HH2sHI")
_META_TEXT = {"UI": b"\0", "SH": b" ", "AE": b" "}  # padding to even length (PS3.5 6.2)


@dataclass(frozen=True)
class ElementSpan:
    """Where one top-level element (tag to end of value) lies in the uploaded bytes."""

    start: int
    end: int
    implicit_vr: bool
    vr: str | None  # as written (None in implicit VR)


def element_span(raw: RawDataElement, data: bytes) -> ElementSpan | None:
    """Where a raw (unconverted) top-level element of ``data`` lies, or None if
    that cannot be confirmed (it is then encoded anew)."""
    value, tell = raw.value, raw.value_tell
    if value is None or tell is None or not raw.is_little_endian:
        return None
    tag = int(raw.tag)
    vr = None if raw.is_implicit_VR else raw.VR
    start = tell - (12 if vr in EXPLICIT_VR_LENGTH_32 else 8)
    undefined = raw.length == _UNDEFINED_LENGTH
    end = tell + len(value) + (8 if undefined else 0)
    if start < 0 or end > len(data) or (not undefined and len(value) != raw.length):
        return None
    if _TAG.unpack_from(data, start) != (tag >> 16, tag & 0xFFFF):
        return None
    if vr is not None and data[start + 4 : start + 6] != vr.encode("ascii", "replace"):
        return None
    if undefined and data[end - 8 : end] != _SEQUENCE_DELIMITER:
        return None
    return ElementSpan(start, end, raw.is_implicit_VR, vr)


def encode_part10(
    ds: Dataset,
    *,
    source: bytes | None = None,
    spans: Mapping[int, ElementSpan] | None = None,
    unchanged: Set[int] = frozenset(),
    encoded: Mapping[int, bytes] | None = None,
) -> bytes:
    """Preamble, file meta (``ds.file_meta``, completed) and data set, as one
    Part-10 file. Elements in ``encoded`` are written as given there (already
    encoded in this transfer syntax); elements in ``unchanged`` that have a span
    are copied from ``source``; everything else is encoded by pydicom."""
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    if not syntax.is_little_endian:
        raise ValueError("only little endian transfer syntaxes are written")
    implicit = syntax.is_implicit_VR
    pieces: list[bytes | memoryview] = [PREAMBLE, file_meta_bytes(ds.file_meta)]
    view = memoryview(source) if source is not None else None
    spans = spans or {}
    encodings = ds.get("SpecificCharacterSet", "iso8859")
    buffer = _new_buffer(implicit)
    encoded = encoded or {}
    for tag, raw in sorted(ds.items()):  # items: elements as they are, unconverted
        if tag.element == 0 and tag.group > 6:
            continue  # retired group lengths, as pydicom's writer does
        piece: bytes | memoryview | None = encoded.get(tag)
        span = spans.get(tag) if piece is None and tag in unchanged else None
        if view is not None and span is not None and _copyable(span, raw, implicit):
            piece = view[span.start : span.end]
        if piece is not None:
            if buffer.tell():
                pieces.append(buffer.getvalue())
                buffer = _new_buffer(implicit)
            pieces.append(piece)
            continue
        element = ds[tag]
        _correct_ambiguous(element, ds)
        if tag == _PIXEL_DATA:
            element.is_undefined_length = syntax.is_compressed  # PS3.5 A.4
        write_data_element(buffer, element, encodings)
    pieces.append(buffer.getvalue())
    return b"".join(pieces)


def encode_element(element: DataElement, *, implicit_vr: bool) -> bytes:
    """One top-level element as encode_part10 writes it (little endian, default
    character set)."""
    buffer = _new_buffer(implicit_vr)
    write_data_element(buffer, element)
    return buffer.getvalue()


def file_meta_bytes(meta: Dataset) -> bytes:
    """The file meta group as pydicom writes it (PS3.10 7.1, completed as with
    enforce_standard), encoded directly when it holds only the simple elements
    de-identification writes; pydicom's writer costs ~0.3 ms for these six."""
    validate_file_meta(meta, enforce_standard=True)  # completes it, or raises
    try:
        return _simple_meta(meta)
    except (_NotSimple, UnicodeEncodeError):
        buffer = _new_buffer(False)
        write_file_meta_info(buffer, meta, enforce_standard=True)
        return buffer.getvalue()


class _NotSimple(Exception):
    pass


def _simple_meta(meta: Dataset) -> bytes:
    encoded = []
    for tag in sorted(meta.keys()):
        if tag == 0x00020000:
            continue  # the group length: computed below
        element = meta[tag]
        if element.VR == "OB" and isinstance(element.value, bytes):
            value = element.value + b"\0" * (len(element.value) % 2)
            encoded.append(_META_OB.pack(2, tag & 0xFFFF, b"OB", 0, len(value)) + value)
        elif element.VR in _META_TEXT and isinstance(element.value, str):
            value = element.value.encode("ascii")
            value += _META_TEXT[element.VR] * (len(value) % 2)
            head = struct.pack("<HH2sH", 2, tag & 0xFFFF, element.VR.encode(), len(value))
            encoded.append(head + value)
        else:
            raise _NotSimple(element.VR)
    group = b"".join(encoded)
    return struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(group)) + group


def _new_buffer(implicit: bool) -> DicomBytesIO:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
    return buffer


def _copyable(span: ElementSpan, element: DataElement | RawDataElement, implicit: bool) -> bool:
    if span.implicit_vr != implicit:
        return False
    return implicit or span.vr == element.VR  # the VR pydicom settled on is the one written


def _correct_ambiguous(element: DataElement, ds: Dataset) -> None:
    """What pydicom's dataset writer does before encoding: settle 'US or SS' and
    similar VRs from the data set, inside sequence items too."""
    if element.VR == "SQ":
        ancestors = [ds]
        for item in element.value or []:
            ancestors.insert(0, item)
            correct_ambiguous_vr(item, True, ancestors)  # removes its own entry again
    elif element.VR in AMBIGUOUS_VR:
        correct_ambiguous_vr_element(element, ds, True)

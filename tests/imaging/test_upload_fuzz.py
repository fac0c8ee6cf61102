"""Fuzz the upload API: thousands of mutated and truncated DICOM files and zips
must each get a clear per-file outcome (or a 4xx), never a 5xx, never a
traceback, and never leave a partial store.

Every mutation is seeded (one ``random.Random``), so a failure reproduces
byte for byte. Most mutants first get a fresh SOP Instance UID of their own,
so "stored in Orthanc" and "reported accepted" can be compared input by input:
the set of instances in the store must equal exactly the de-identified
instances the reports said were accepted or duplicate, and every Study and
Series row written by the uploads must match what the store holds.
"""

from __future__ import annotations

import io
import os
import random
import stat
import struct
import traceback
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pydicom
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from pydicom.dataset import Dataset

from imaging.dicom.deid import deidentify
from imaging.models import Series, Study
from tests.conftest import World, client_for
from tests.imaging.dicom_samples import ct_series_files, related_body

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

# Fixed, so every run sends the same bytes; set UPLOAD_FUZZ_SEED to explore others.
SEED = int(os.environ.get("UPLOAD_FUZZ_SEED", "20240611"))
DICOM_BATCHED = 1400  # randomly mutated DICOM files sent 40 to a request
DICOM_SINGLE = 300  # mutated DICOM files sent one to a request
ZIPS = 280  # mutated or hostile zips (members not counted)
BATCH = 40
ZIP_BATCH = 8
SERIES_SIZE = 12  # fresh instances per synthetic series: keeps each QIDO-RS search cheap
ALLOWED_STATUS = {200, 201, 400, 413}
FILE_STATUSES = {"accepted", "duplicate", "quarantined", "rejected"}
# What a leaked traceback or internal path would look like in a response body.
LEAK_MARKERS = (
    "Traceback",
    'File "',
    "site-packages",
    "/work/",
    "/usr/lib/",
    "/tmp/",
    '.py"',
    ".py,",
    ".py:",
    "platform/",
)

IMPLICIT = "1.2.840.10008.1.2"
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
# Tags (group << 16 | element) the mutators aim at.
T_GROUP_LEN, T_MS_CLASS, T_MS_INSTANCE, T_TS = 0x00020000, 0x00020002, 0x00020003, 0x00020010
T_SOP_CLASS, T_SOP_INSTANCE = 0x00080016, 0x00080018
T_STUDY, T_SERIES = 0x0020000D, 0x0020000E
T_PIXEL = 0x7FE00010
T_ROWS, T_COLUMNS, T_BITS_ALLOCATED, T_SAMPLES = 0x00280010, 0x00280011, 0x00280100, 0x00280002
T_FRAMES = 0x00280008
CT, ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"
SOP_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.7",  # secondary capture
    "1.2.840.10008.5.1.4.1.1.7.4",  # multi-frame true colour SC
    "1.2.840.10008.5.1.4.1.1.88.67",  # dose SR
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.66",  # raw data
    "1.2.840.10008.5.1.4.1.1.128",  # PET
    ENHANCED_CT,
    "1.2.840.10008.5.1.4.1.1.2.2",  # legacy converted enhanced CT
    "1.2.840.10008.5.1.4.1.1.02",  # leading zero
    "1.2.840.10008.5.1.4.1.1.2.",  # trailing dot
    "",
    "CT",
    "1.2.840.10008.5.1.4.1.1.2\x00\x00",
    "1." * 40,
)
TRANSFER_SYNTAXES = (
    IMPLICIT,
    "1.2.840.10008.1.2.1",  # explicit LE
    "1.2.840.10008.1.2.2",  # explicit BE (retired, refused)
    "1.2.840.10008.1.2.1.99",  # deflated (refused)
    "1.2.840.10008.1.2.5",  # RLE
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near lossless
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.50",  # JPEG baseline (not allowed)
    "1.2.840.10008.1.2.4.100",  # MPEG2
    "1.2.840.10008.1.2.4.201",  # HTJ2K
    "1.2.3.4.5.6",
    "1.2.840.10008.1.2.01",
    "1.2.840.abc",
    "",
    "\x00\x00",
    "1.2.840.10008.1.2.1" + "9" * 60,
)
NASTY_STRINGS = (
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-1e309",
    "1e-400",
    "99999999999",
    "-99999999999",
    "2147483648",
    "-2147483649",
    "0",
    "-0",
    "",
    " ",
    "\\",
    "1\\2\\3\\4\\5\\6\\7",
    "abc",
    "1.2.3",
    "0x10",
    "\x00\x00",
    "\xff\xfe",
    "999Y",
    "000Y",
    "120D",
    "20231399",
    "00000000",
    "99991231",
    "YES",
    "yes ",
    "X" * 300,
)
# Attributes whose values feed validation, de-identification or the index.
VALUE_TARGETS = (
    (0x00200032, b"DS"),  # ImagePositionPatient
    (0x00200037, b"DS"),  # ImageOrientationPatient
    (0x00280030, b"DS"),  # PixelSpacing
    (0x00180050, b"DS"),  # SliceThickness
    (0x00201041, b"DS"),  # SliceLocation
    (0x00200011, b"IS"),  # SeriesNumber
    (0x00200013, b"IS"),  # InstanceNumber
    (0x00101010, b"AS"),  # PatientAge
    (0x00101020, b"DS"),  # PatientSize
    (0x00101030, b"DS"),  # PatientWeight
    (0x00100040, b"CS"),  # PatientSex
    (0x00100020, b"LO"),  # PatientID
    (0x00080020, b"DA"),  # StudyDate
    (0x00100030, b"DA"),  # PatientBirthDate
    (0x00080060, b"CS"),  # Modality
    (0x00180015, b"CS"),  # BodyPartExamined
    (0x0008103E, b"LO"),  # SeriesDescription
    (0x00081030, b"LO"),  # StudyDescription
    (0x00280301, b"CS"),  # BurnedInAnnotation
    (0x00080005, b"CS"),  # SpecificCharacterSet
    (0x00281052, b"DS"),  # RescaleIntercept
    (0x00281053, b"DS"),  # RescaleSlope
    (0x00280008, b"IS"),  # NumberOfFrames (added when absent)
    (0x00280004, b"CS"),  # PhotometricInterpretation
)
MULTI_VALUED = {0x00200032: 3, 0x00200037: 6, 0x00280030: 2}
US_TARGETS = (T_ROWS, T_COLUMNS, T_BITS_ALLOCATED, T_SAMPLES, 0x00280101, 0x00280102, 0x00280103)


# --- a small DICOM element map, enough to aim mutations at real fields -------------


@dataclass(frozen=True)
class Element:
    tag: int
    start: int  # first byte of the header
    length_at: int
    length_size: int  # 2 or 4 bytes
    value_at: int
    end: int  # one past the value (after the delimiter for undefined lengths)
    vr: bytes  # b"" when implicit


@dataclass(frozen=True)
class Layout:
    data: bytes
    meta: list[Element]
    body: list[Element]
    implicit: bool

    @property
    def meta_end(self) -> int:
        return self.meta[-1].end

    def find(self, tag: int) -> Element | None:
        for element in (*self.meta, *self.body):
            if element.tag == tag:
                return element
        return None


def _header(data: bytes, pos: int, implicit: bool) -> tuple[int, bytes, int, int, int]:
    group, number = struct.unpack_from("<HH", data, pos)
    tag = group << 16 | number
    if group == 0xFFFE or implicit and group != 0x0002:
        return tag, b"", pos + 4, 4, pos + 8
    vr = data[pos + 4 : pos + 6]
    if vr in LONG_VRS:
        return tag, vr, pos + 8, 4, pos + 12
    return tag, vr, pos + 6, 2, pos + 8


def _walk(data: bytes, pos: int, implicit: bool, *, meta: bool) -> tuple[list[Element], int]:
    """Elements from ``pos`` (meta: group 2 only; else to the end or an item end)."""
    out: list[Element] = []
    while pos + 8 <= len(data):
        tag, vr, length_at, size, value_at = _header(data, pos, implicit)
        if meta and tag >> 16 != 0x0002:
            break
        if tag == ITEM_END:
            return out, pos + 8
        length = int.from_bytes(data[length_at : length_at + size], "little")
        end = _skip_items(data, value_at, implicit) if length == UNDEFINED else value_at + length
        out.append(Element(tag, pos, length_at, size, value_at, end, vr))
        pos = end
    return out, pos


def _skip_items(data: bytes, pos: int, implicit: bool) -> int:
    """Skip the items of an undefined-length sequence or encapsulated pixel data."""
    while True:
        group, number, length = struct.unpack_from("<HHI", data, pos)
        tag, pos = group << 16 | number, pos + 8
        if tag == SEQ_END:
            return pos
        assert tag == ITEM, hex(tag)
        pos = _walk(data, pos, implicit, meta=False)[1] if length == UNDEFINED else pos + length


def layout(data: bytes) -> Layout:
    meta, pos = _walk(data, 132, False, meta=True)
    ts_element = next(e for e in meta if e.tag == T_TS)
    ts = data[ts_element.value_at : ts_element.end].rstrip(b"\0 ").decode()
    implicit = ts == IMPLICIT
    body, _ = _walk(data, pos, implicit, meta=False)
    return Layout(data, meta, body, implicit)


def _pad(value: bytes, pad: bytes = b"\0") -> bytes:
    return value + pad if len(value) % 2 else value


def replace_value(lay: Layout, element: Element, value: bytes, *, fix_group: bool = True) -> bytes:
    """The file with one element's value replaced and its length field updated."""
    data = lay.data
    if element.length_size == 2 and len(value) > 0xFFFF:
        value = value[:0xFFFE]
    length = len(value).to_bytes(element.length_size, "little")
    out = (
        data[: element.length_at]
        + length
        + data[element.length_at + element.length_size : element.value_at]
        + value
        + data[element.end :]
    )
    group_len = lay.find(T_GROUP_LEN)
    if fix_group and element.tag >> 16 == 0x0002 and group_len is not None:
        old = struct.unpack_from("<I", data, group_len.value_at)[0]
        delta = len(value) - (element.end - element.value_at)
        new = (old + delta) & 0xFFFFFFFF
        out = out[: group_len.value_at] + struct.pack("<I", new) + out[group_len.value_at + 4 :]
    return out


def encode_element(tag: int, vr: bytes, value: bytes, implicit: bool) -> bytes:
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if implicit and tag >> 16 != 0x0002:
        return head + struct.pack("<I", len(value)) + value
    if vr in LONG_VRS:
        return head + vr + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + vr + struct.pack("<H", len(value)) + value


def set_value(data: bytes, tag: int, vr: bytes, value: bytes, *, fix_group: bool = True) -> bytes:
    """Replace an element's value, or insert the element in tag order if absent."""
    lay = layout(data)
    element = lay.find(tag)
    if element is not None:
        return replace_value(lay, element, value, fix_group=fix_group)
    after = next((e for e in lay.body if e.tag > tag), None)
    at = after.start if after is not None else len(data)
    return data[:at] + encode_element(tag, vr, value, lay.implicit) + data[at:]


def set_uid(data: bytes, tag: int, uid: str, *, fix_group: bool = True) -> bytes:
    return set_value(data, tag, b"UI", _pad(uid.encode("latin-1")), fix_group=fix_group)


def with_sop_uid(data: bytes, uid: str) -> bytes:
    return set_uid(set_uid(data, T_MS_INSTANCE, uid), T_SOP_INSTANCE, uid)


# --- inputs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    name: str
    data: bytes
    syntax: str


@dataclass
class Fuzzer:
    """Deterministic generator of hostile inputs; ``kinds`` counts what it made."""

    bases: list[Base]
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    kinds: Counter[str] = field(default_factory=Counter)
    serial: int = 0
    series: dict[str, tuple[str, int]] = field(default_factory=dict)

    def fresh_uid(self) -> str:
        return f"2.25.{self.rng.getrandbits(100)}"

    def fresh(self, base: Base | None = None) -> bytes:
        """A valid file with a SOP Instance UID no other input has, in a series of
        at most SERIES_SIZE such files."""
        base = base or self.rng.choice(self.bases)
        series, used = self.series.get(base.name, ("", SERIES_SIZE))
        if used >= SERIES_SIZE:
            series, used = self.fresh_uid(), 0
        self.series[base.name] = (series, used + 1)
        return with_sop_uid(set_uid(base.data, T_SERIES, series), self.fresh_uid())

    def name(self, kind: str, ext: str = "dcm") -> str:
        self.serial += 1
        return f"{self.serial:05d}-{kind}.{ext}"

    # -- DICOM mutants ---------------------------------------------------------

    def dicom(self) -> tuple[str, str, bytes]:
        kind, mutate = self.rng.choices(self.MUTATORS, weights=[w for _, _, w in self.MUTATORS])[0][
            :2
        ]
        base = self.rng.choice(self.bases)
        # Mostly a fresh SOP Instance UID, so a partial store cannot hide behind
        # a valid twin; sometimes the original one, so duplicates are exercised.
        data = self.fresh(base) if self.rng.random() < 0.85 else base.data
        out = mutate(self, data, base)
        self.kinds[f"dicom:{kind}"] += 1
        return self.name(kind), kind, out

    def value_grid(self) -> Iterator[tuple[str, str, bytes]]:
        """Every geometry and patient number with every nasty value, once each; in
        multi-valued attributes the other values stay numbers, so the count is right."""
        for tag, vr in VALUE_TARGETS[:10]:
            multiplicity = MULTI_VALUED.get(tag, 1)
            for raw in NASTY_STRINGS[:20]:
                value = "\\".join([raw, *["0"] * (multiplicity - 1)]).encode("latin-1")
                data = set_value(self.fresh(), tag, vr, _pad(value, b" "))
                self.kinds["dicom:value_grid"] += 1
                yield self.name("value_grid"), "value_grid", data

    def _offset(self, low: int, high: int) -> int:
        return self.rng.randrange(low, max(high, low + 1))

    def m_trunc_preamble(self, data: bytes, base: Base) -> bytes:
        return data[: self.rng.randrange(0, 128)]

    def m_trunc_prefix(self, data: bytes, base: Base) -> bytes:
        return data[: self.rng.randrange(128, 132)]

    def m_trunc_meta(self, data: bytes, base: Base) -> bytes:
        return data[: self._offset(132, layout(data).meta_end)]

    def m_trunc_body(self, data: bytes, base: Base) -> bytes:
        lay = layout(data)
        pixel = lay.find(T_PIXEL)
        assert pixel is not None
        return data[: self._offset(lay.meta_end, pixel.start)]

    def m_trunc_pixels(self, data: bytes, base: Base) -> bytes:
        pixel = layout(data).find(T_PIXEL)
        assert pixel is not None
        return data[: self._offset(pixel.start, len(data))]

    def m_trunc_tail(self, data: bytes, base: Base) -> bytes:
        return data[: -self.rng.randint(1, 12)]

    def _flip(self, data: bytes, low: int, high: int) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.randint(1, 8)):
            out[self._offset(low, high)] ^= self.rng.randint(1, 255)
        return bytes(out)

    def m_flip_any(self, data: bytes, base: Base) -> bytes:
        return self._flip(data, 0, len(data))

    def m_flip_meta(self, data: bytes, base: Base) -> bytes:
        return self._flip(data, 128, layout(data).meta_end)

    def m_flip_header(self, data: bytes, base: Base) -> bytes:
        lay = layout(data)
        pixel = lay.find(T_PIXEL)
        assert pixel is not None
        return self._flip(data, lay.meta_end, pixel.value_at)

    def m_flip_pixels(self, data: bytes, base: Base) -> bytes:
        pixel = layout(data).find(T_PIXEL)
        assert pixel is not None
        return self._flip(data, pixel.value_at, len(data))

    def _pick(self, lay: Layout) -> Element:
        return self.rng.choice([*lay.meta, *lay.body])

    def _write_length(self, data: bytes, element: Element, value: int) -> bytes:
        size = element.length_size
        value &= (1 << (8 * size)) - 1
        at = element.length_at
        return data[:at] + value.to_bytes(size, "little") + data[at + size :]

    def m_length(self, data: bytes, base: Base) -> bytes:
        lay = layout(data)
        element = self._pick(lay)
        current = element.end - element.value_at
        value = self.rng.choice(
            [0, 1, 3, current - 1, current + 1, current + 2, current * 2, len(data), 0xFFFF]
        )
        return self._write_length(data, element, max(value, 0))

    def m_huge_length(self, data: bytes, base: Base) -> bytes:
        lay = layout(data)
        element = lay.find(T_PIXEL) if self.rng.random() < 0.4 else self._pick(lay)
        assert element is not None
        value = self.rng.choice([0x7FFFFFFF, 0xFFFFFFF0, UNDEFINED, 0xFFFFFFFE, 0x10000000])
        return self._write_length(data, element, value)

    def m_group_length(self, data: bytes, base: Base) -> bytes:
        lay = layout(data)
        group = lay.find(T_GROUP_LEN)
        assert group is not None
        value = self.rng.choice([0, 2, 10, 0xFFFFFFFF, 0x7FFFFFFF, len(data) * 4])
        return data[: group.value_at] + struct.pack("<I", value) + data[group.value_at + 4 :]

    def m_insert(self, data: bytes, base: Base) -> bytes:
        at = self.rng.randrange(0, len(data))
        return data[:at] + self.rng.randbytes(self.rng.randint(1, 32)) + data[at:]

    def m_delete(self, data: bytes, base: Base) -> bytes:
        at = self.rng.randrange(0, len(data))
        return data[:at] + data[at + self.rng.randint(1, 32) :]

    def m_duplicate(self, data: bytes, base: Base) -> bytes:
        lay = layout(data)
        element = self.rng.choice(lay.body)
        chunk = data[element.start : element.end]
        # The same tag twice in a row, or a copy out of tag order.
        at = element.end if self.rng.random() < 0.5 else self.rng.choice(lay.body).start
        return data[:at] + chunk + data[at:]

    def m_drop(self, data: bytes, base: Base) -> bytes:
        lay = layout(data)
        targets = [T_TS, T_SOP_CLASS, T_SOP_INSTANCE, T_STUDY, T_SERIES, T_PIXEL, T_ROWS]
        targets += [T_MS_CLASS, T_MS_INSTANCE, T_GROUP_LEN, T_BITS_ALLOCATED]
        element = lay.find(self.rng.choice(targets))
        assert element is not None
        return data[: element.start] + data[element.end :]

    def m_strip_meta(self, data: bytes, base: Base) -> bytes:
        lay = layout(data)
        choice = self.rng.randrange(3)
        if choice == 0:  # no meta group, DICM kept
            return data[:132] + data[lay.meta_end :]
        if choice == 1:  # no preamble
            return data[128:]
        return data[lay.meta_end :]  # a bare data set

    def m_ts(self, data: bytes, base: Base) -> bytes:
        uid = self.rng.choice(TRANSFER_SYNTAXES)
        return set_uid(data, T_TS, uid, fix_group=self.rng.random() < 0.8)

    def m_sop_class(self, data: bytes, base: Base) -> bytes:
        uid = self.rng.choice(SOP_CLASSES)
        where = self.rng.randrange(3)
        if where in (0, 2):
            data = set_uid(data, T_SOP_CLASS, uid)
        if where in (1, 2):
            data = set_uid(data, T_MS_CLASS, uid)
        return data

    def m_uid(self, data: bytes, base: Base) -> bytes:
        tag = self.rng.choice([T_SOP_INSTANCE, T_MS_INSTANCE, T_STUDY, T_SERIES])
        uid = self.rng.choice(
            ["", "1..2", "01.2", "1.2.a", "1." * 40, "9" * 64, "2.25." + "9" * 70, "1.2\x00"]
        )
        return set_uid(data, tag, uid)

    def m_value(self, data: bytes, base: Base) -> bytes:
        for _ in range(self.rng.randint(1, 3)):
            tag, vr = self.rng.choice(VALUE_TARGETS)
            raw = self.rng.choice(NASTY_STRINGS).encode("latin-1")
            data = set_value(data, tag, vr, _pad(raw, b" "))
        return data

    def m_us(self, data: bytes, base: Base) -> bytes:
        tag = self.rng.choice(US_TARGETS)
        value = self.rng.choice([0, 1, 2, 3, 7, 8, 12, 15, 17, 24, 32, 33, 64, 0x7FFF, 0xFFFF])
        raw = struct.pack("<H", value) if self.rng.random() < 0.9 else b"\x01"
        return set_value(data, tag, b"US", raw)

    def m_frames(self, data: bytes, base: Base) -> bytes:
        raw = self.rng.choice(["0", "2", "-1", "999999999", "40000", "1.5"]).encode()
        return set_value(data, T_FRAMES, b"IS", _pad(raw, b" "))

    def m_splice(self, data: bytes, base: Base) -> bytes:
        """Pixel data (and so codec) of another syntax under this file's header."""
        other = self.rng.choice([b for b in self.bases if b.syntax != base.syntax])
        mine, theirs = layout(data).find(T_PIXEL), layout(other.data).find(T_PIXEL)
        assert mine is not None and theirs is not None
        return data[: mine.start] + other.data[theirs.start :]

    def m_garbage(self, data: bytes, base: Base) -> bytes:
        body = self.rng.randbytes(self.rng.randint(0, 3000))
        if self.rng.random() < 0.5:
            return b"\0" * 128 + b"DICM" + body
        return body

    def m_empty(self, data: bytes, base: Base) -> bytes:
        return self.rng.choice([b"", b"\0", b"DICM", b"\0" * 128 + b"DICM", b"\0" * 132])

    def m_not_a_zip(self, data: bytes, base: Base) -> bytes:
        return b"PK\x03\x04" + self.rng.randbytes(self.rng.randint(0, 200))

    def m_valid(self, data: bytes, base: Base) -> bytes:
        return data

    MUTATORS: ClassVar[list[tuple[str, Callable[[Fuzzer, bytes, Base], bytes], int]]] = [
        ("trunc_preamble", m_trunc_preamble, 2),
        ("trunc_prefix", m_trunc_prefix, 1),
        ("trunc_meta", m_trunc_meta, 4),
        ("trunc_body", m_trunc_body, 6),
        ("trunc_pixels", m_trunc_pixels, 6),
        ("trunc_tail", m_trunc_tail, 3),
        ("flip_any", m_flip_any, 8),
        ("flip_meta", m_flip_meta, 5),
        ("flip_header", m_flip_header, 8),
        ("flip_pixels", m_flip_pixels, 6),
        ("length_field", m_length, 8),
        ("huge_length", m_huge_length, 5),
        ("group_length", m_group_length, 2),
        ("insert_bytes", m_insert, 5),
        ("delete_bytes", m_delete, 5),
        ("duplicate_element", m_duplicate, 4),
        ("drop_element", m_drop, 4),
        ("strip_meta", m_strip_meta, 2),
        ("transfer_syntax", m_ts, 6),
        ("sop_class", m_sop_class, 5),
        ("bad_uid", m_uid, 3),
        ("nasty_value", m_value, 10),
        ("image_us", m_us, 4),
        ("frames", m_frames, 2),
        ("pixel_splice", m_splice, 3),
        ("garbage", m_garbage, 2),
        ("empty", m_empty, 1),
        ("pk_not_zip", m_not_a_zip, 1),
        ("valid", m_valid, 3),
    ]

    # -- zips ------------------------------------------------------------------

    def _zip(
        self,
        members: list[tuple[str | zipfile.ZipInfo, bytes]],
        *,
        zip64: bool = False,
        comment: bytes = b"",
    ) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members:
                if isinstance(name, str):
                    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                    info.compress_type = self.rng.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
                else:
                    info = name
                if info.is_dir():
                    archive.writestr(info, data)
                    continue
                with archive.open(info, "w", force_zip64=zip64) as stream:
                    stream.write(data)
            archive.comment = comment
        return buffer.getvalue()

    def _members(self, count: int, *, mutated: float = 0.0) -> list[tuple[str, bytes]]:
        members = []
        for index in range(count):
            if self.rng.random() < mutated:
                _, kind, data = self.dicom()
                members.append((f"series/{index:03d}-{kind}.dcm", data))
            else:
                members.append((f"series/{index:03d}.dcm", self.fresh()))
        return members

    def zip(self) -> tuple[str, str, bytes]:
        kind, make = self.rng.choices(self.ZIPPERS, weights=[w for _, _, w in self.ZIPPERS])[0][:2]
        data = make(self)
        self.kinds[f"zip:{kind}"] += 1
        return self.name(kind, "zip"), kind, data

    def z_valid(self) -> bytes:
        members: list[tuple[str | zipfile.ZipInfo, bytes]] = []
        members += self._members(self.rng.randint(1, 5), mutated=0.5)
        if self.rng.random() < 0.3:
            members += [("__MACOSX/series/._000.dcm", b"junk"), ("series/.DS_Store", b"x")]
        if self.rng.random() < 0.3:
            members.insert(0, (zipfile.ZipInfo("series/"), b""))
        return self._zip(members, zip64=self.rng.random() < 0.2)

    def z_truncated(self) -> bytes:
        data = self._zip(self._members(self.rng.randint(1, 4)))
        return data[: self.rng.randrange(4, len(data))]

    def z_central_directory(self) -> bytes:
        data = self._zip(self._members(self.rng.randint(1, 4)))
        start = data.rfind(b"PK\x01\x02")
        start = data.find(b"PK\x01\x02") if self.rng.random() < 0.5 else start
        return self._flip(data, start, len(data))

    def z_end_record(self) -> bytes:
        data = self._zip(self._members(self.rng.randint(1, 4)))
        end = data.rfind(b"PK\x05\x06")
        out = bytearray(data)
        field_at = end + self.rng.choice([4, 6, 8, 10, 12, 16, 20])
        out[field_at : field_at + 2] = self.rng.randbytes(2)
        return bytes(out)

    def z_data_flip(self) -> bytes:
        data = self._zip(self._members(self.rng.randint(1, 4)))
        return self._flip(data, 30, data.find(b"PK\x01\x02"))

    def z_nested(self) -> bytes:
        inner = self._zip(self._members(self.rng.randint(1, 3)))
        members: list[tuple[str | zipfile.ZipInfo, bytes]] = [("inner.zip", inner)]
        if self.rng.random() < 0.5:
            members.append(("series/outer.dcm", self.fresh()))
        return self._zip(members)

    def z_unsafe_name(self) -> bytes:
        bad = self.rng.choice(
            [
                "../escape.dcm",
                "series/../../etc/passwd.dcm",
                "/etc/cron.d/x.dcm",
                "/abs.dcm",
                "series\\win.dcm",
                "..\\..\\win.dcm",
                "C:/Windows/x.dcm",
                "c:evil.dcm",
                "series/ctl\x01.dcm",
                "series/new\nline.dcm",
                "..",
            ]
        )
        members = [*self._members(self.rng.randint(1, 3)), (bad, self.fresh())]
        self.rng.shuffle(members)
        return self._zip(members)  # type: ignore[arg-type]

    def z_special_entry(self) -> bytes:
        mode = self.rng.choice(
            [stat.S_IFLNK | 0o777, stat.S_IFCHR | 0o644, stat.S_IFIFO | 0o644, stat.S_IFSOCK]
        )
        info = zipfile.ZipInfo("series/link.dcm", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = mode << 16
        payload = b"/etc/passwd" if stat.S_ISLNK(mode) else self.fresh()
        members: list[tuple[str | zipfile.ZipInfo, bytes]] = [
            *self._members(self.rng.randint(1, 3)),
            (info, payload),
        ]
        return self._zip(members)

    def z_repeated_name(self) -> bytes:
        first = self.fresh()
        members: list[tuple[str | zipfile.ZipInfo, bytes]] = [
            ("series/a.dcm", first),
            ("series/a.dcm", self.fresh()),
        ]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning):
            for name, data in members:
                archive.writestr(name, data)  # type: ignore[arg-type]
        return buffer.getvalue()

    def z_encrypted_flag(self) -> bytes:
        data = self._zip([("series/a.dcm", self.fresh())])
        out = bytearray(data)
        for marker, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.find(marker) + offset
            out[at] |= self.rng.choice([0x01, 0x40, 0x41])
        return bytes(out)

    def z_compression_method(self) -> bytes:
        members = self._members(1)
        info = zipfile.ZipInfo("series/packed.dcm", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = self.rng.choice([zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
        return self._zip([*members, (info, self.fresh())])

    def z_method_patched(self) -> bytes:
        """An unknown compression method number, patched into the headers."""
        data = self._zip([("series/a.dcm", self.fresh())])
        method = struct.pack("<H", self.rng.choice([1, 6, 9, 97, 99, 0xFFFF]))
        out = bytearray(data)
        for marker, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            at = data.find(marker) + offset
            out[at : at + 2] = method
        return bytes(out)

    def z_empty(self) -> bytes:
        return self.rng.choice(
            [
                self._zip([]),
                self._zip([(zipfile.ZipInfo("only/dirs/"), b"")]),
                self._zip([("__MACOSX/._x", b"junk"), ("Thumbs.db", b"x")]),
                self._zip([("series/empty.dcm", b"")]),
            ]
        )

    def z_comment(self) -> bytes:
        comment = self.rng.randbytes(self.rng.randint(1, 0xFFFF))
        return self._zip(self._members(1), comment=comment)

    def z_overlapping(self) -> bytes:
        """Two central-directory entries pointing at one local header (overlap bomb)."""
        data = self._zip([("series/a.dcm", self.fresh()), ("series/b.dcm", self.fresh())])
        first = data.find(b"PK\x01\x02")
        second = data.find(b"PK\x01\x02", first + 4)
        out = bytearray(data)
        out[second + 42 : second + 46] = data[first + 42 : first + 46]
        return bytes(out)

    def z_declared_size(self) -> bytes:
        """Uncompressed sizes in the headers that lie (small or huge)."""
        data = self._zip([("series/a.dcm", self.fresh())])
        size = struct.pack("<I", self.rng.choice([0, 1, 100, 0x7FFFFFFF, 0xFFFFFFFE]))
        out = bytearray(data)
        for marker, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            at = data.find(marker) + offset
            out[at : at + 4] = size
        return bytes(out)

    ZIPPERS: ClassVar[list[tuple[str, Callable[[Fuzzer], bytes], int]]] = [
        ("valid_with_mutants", z_valid, 10),
        ("truncated", z_truncated, 8),
        ("central_directory", z_central_directory, 6),
        ("end_record", z_end_record, 3),
        ("compressed_data_flip", z_data_flip, 6),
        ("zip_in_zip", z_nested, 3),
        ("unsafe_name", z_unsafe_name, 5),
        ("special_entry", z_special_entry, 3),
        ("repeated_name", z_repeated_name, 1),
        ("encrypted_flag", z_encrypted_flag, 1),
        ("compression_method", z_compression_method, 1),
        ("method_patched", z_method_patched, 1),
        ("empty", z_empty, 2),
        ("comment", z_comment, 1),
        ("overlapping_entries", z_overlapping, 1),
        ("declared_size", z_declared_size, 2),
    ]

    def zip_bombs(self) -> Iterator[tuple[str, str, bytes]]:
        zeros = b"\0" * (50 * 2**20)
        info = zipfile.ZipInfo("series/bomb.dcm", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        honest = self._zip([(info, zeros), ("series/ok.dcm", self.fresh())])
        yield self.name("bomb", "zip"), "bomb", honest
        # The same bomb whose headers claim 4 KiB: the limit must hold while inflating.
        lying = bytearray(honest)
        for marker, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            at = honest.find(marker) + offset
            lying[at : at + 4] = struct.pack("<I", 4096)
        yield self.name("bomb_lying", "zip"), "bomb_lying", bytes(lying)
        # A zip-in-zip bomb: the inner archive is a member like any other, never opened.
        inner_info = zipfile.ZipInfo("series/inner.dcm", date_time=(2020, 1, 1, 0, 0, 0))
        inner_info.compress_type = zipfile.ZIP_DEFLATED
        inner = self._zip([(inner_info, zeros[: 16 * 2**20])])
        yield self.name("bomb_nested", "zip"), "bomb_nested", self._zip([("inner.zip", inner)])
        self.kinds["zip:bomb"] += 3

    def many_members(self, count: int) -> tuple[str, str, bytes]:
        members: list[tuple[str | zipfile.ZipInfo, bytes]] = [
            (f"junk/{index:05d}.txt", b"not dicom %d" % index) for index in range(count)
        ]
        members += [(f"series/{i}.dcm", self.fresh()) for i in range(3)]
        self.kinds["zip:many_members"] += 1
        return self.name("many_members", "zip"), "many_members", self._zip(members)


# --- the API side -----------------------------------------------------------------


@dataclass
class Ledger:
    """Every input sent, every response, and what the reports claimed."""

    sent: dict[str, bytes] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    claimed: dict[str, str] = field(default_factory=dict)  # row name -> series uid
    problems: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    requests: int = 0


class Uploader:
    def __init__(self, user: Any, project_id: int, ledger: Ledger) -> None:
        self.client = client_for(user)
        self.client.raise_request_exception = False  # record a 500, don't raise it
        self.project_id = project_id
        self.ledger = ledger

    def post(
        self, files: list[tuple[str, str, bytes]], *, form: dict[str, Any] | None = None
    ) -> Any:
        ledger = self.ledger
        for name, kind, data in files:
            assert name not in ledger.sent, name
            ledger.sent[name], ledger.kinds[name] = data, kind
        payload = form
        if payload is None and ledger.requests % 2:
            # Every other upload is a STOW-style body: both parsers get the fuzz.
            body, content_type = related_body([(name, data) for name, _, data in files])
            url = f"/api/v1/uploads/?project={self.project_id}"
            response = self.client.post(url, body, content_type=content_type)
        else:
            if payload is None:
                uploads = [SimpleUploadedFile(name, data) for name, _, data in files]
                payload = {"project": self.project_id, "files": uploads}
            response = self.client.post("/api/v1/uploads/", payload, format="multipart")
        ledger.requests += 1
        ledger.statuses[response.status_code] += 1
        self._check(response, files, form_error_expected=form is not None)
        return response

    def _check(
        self, response: Any, files: list[tuple[str, str, bytes]], *, form_error_expected: bool
    ) -> None:
        ledger = self.ledger
        names = [name for name, _, _ in files]
        where = f"request with {len(files)} file(s) {names[:3]}{'...' if len(names) > 3 else ''}"
        if response.status_code not in ALLOWED_STATUS:
            detail = ""
            if getattr(response, "exc_info", None):
                detail = "".join(traceback.format_exception(*response.exc_info))
            ledger.problems.append(f"HTTP {response.status_code} for {where}\n{detail}")
            return
        text = response.content.decode("utf-8", "replace")
        leaks = [marker for marker in LEAK_MARKERS if marker in text]
        if leaks:
            ledger.problems.append(f"{where}: body leaks {leaks}: {text[:500]}")
        body = response.json()
        if form_error_expected or response.status_code == 413:
            if "counts" in body:
                ledger.problems.append(f"{where}: refusal expected, got a report")
            return
        rows = body.get("files")
        if not isinstance(rows, list):
            ledger.problems.append(f"{where}: no per-file report: {text[:300]}")
            return
        tally = Counter(row.get("status") for row in rows)
        if body.get("counts") != {status: tally.get(status, 0) for status in FILE_STATUSES}:
            ledger.problems.append(f"{where}: counts {body.get('counts')} disagree with rows")
        expected_code = 201 if tally["accepted"] else 200 if tally["duplicate"] else 400
        if response.status_code != expected_code:
            ledger.problems.append(f"{where}: HTTP {response.status_code} for counts {tally}")
        for row in rows:
            self._check_row(row, where)
        self._check_coverage(rows, files, where)

    def _check_row(self, row: dict[str, Any], where: str) -> None:
        ledger = self.ledger
        status, name = row.get("status"), row.get("name", "")
        ledger.outcomes[str(status)] += 1
        if status not in FILE_STATUSES:
            ledger.problems.append(f"{where}: row {name!r} has status {status!r}")
            return
        if status in ("rejected", "quarantined"):
            ledger.codes[f"{status}:{row.get('code')}"] += 1
            if not row.get("code") or not row.get("message"):
                ledger.problems.append(f"{where}: {status} row {name!r} lacks code or message")
            return
        if not row.get("series_instance_uid"):
            ledger.problems.append(f"{where}: {status} row {name!r} has no series UID")
        if status == "accepted" and name in ledger.claimed:
            ledger.problems.append(f"{where}: {name!r} reported twice")
        ledger.claimed[name] = row["series_instance_uid"]

    def _check_coverage(
        self, rows: list[dict[str, Any]], files: list[tuple[str, str, bytes]], where: str
    ) -> None:
        """Each plain file is reported exactly once; each zip once or by its members."""
        by_name = Counter(row["name"] for row in rows)
        for name, _, data in files:
            is_zip = data.startswith(b"PK\x03\x04")
            members = sum(n for row_name, n in by_name.items() if row_name.startswith(name + "/"))
            whole, by_members = by_name[name] == 1 and not members, not by_name[name] and members
            if is_zip and not (whole or by_members):
                self.ledger.problems.append(
                    f"{where}: zip {name!r} reported {by_name[name]}x and by {members} members"
                )
            elif not is_zip and by_name[name] != 1:
                self.ledger.problems.append(f"{where}: {name!r} reported {by_name[name]} times")


def stored_uids(data: bytes, project_key: str) -> tuple[str, str]:
    """The de-identified (SOP Instance, Series Instance) UIDs ingest gives ``data``."""
    ds = pydicom.dcmread(io.BytesIO(data))  # whole file: elements may follow the pixels
    small = Dataset()
    for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if keyword in ds:
            small[keyword] = ds[keyword]
    result = deidentify(small, project_key=project_key, key=django_settings.DEID_KEY.encode())
    return str(result.dataset.SOPInstanceUID), str(result.dataset.SeriesInstanceUID)


def member_bytes(ledger: Ledger, row_name: str) -> bytes:
    if row_name in ledger.sent:
        return ledger.sent[row_name]
    upload, member = row_name.split("/", 1)
    with zipfile.ZipFile(io.BytesIO(ledger.sent[upload])) as archive:
        return archive.read(member)


def orthanc_index(orthanc: Any) -> dict[tuple[str, str], set[str]]:
    """(Study, Series Instance UID) -> SOP Instance UIDs, as the store holds them."""
    session = orthanc.session()

    def expand(level: str) -> list[dict[str, Any]]:
        return session.get(f"{orthanc.url}/{level}?expand", timeout=60).json()

    study_uid = {s["ID"]: s["MainDicomTags"]["StudyInstanceUID"] for s in expand("studies")}
    series_key = {
        s["ID"]: (study_uid[s["ParentStudy"]], s["MainDicomTags"]["SeriesInstanceUID"])
        for s in expand("series")
    }
    index: dict[tuple[str, str], set[str]] = {}
    for instance in expand("instances"):
        key = series_key[instance["ParentSeries"]]
        index.setdefault(key, set()).add(instance["MainDicomTags"]["SOPInstanceUID"])
    return index


def make_bases(tmp: Path) -> list[Base]:
    bases = []
    syntaxes = ("explicit", "implicit", "rle", "jpeg2000", "jpegls", "explicit")
    for patient, syntax in enumerate(syntaxes):
        # 16 x 16 where the codec allows it (OpenJPEG's defaults need 32), plus one 32 x 32.
        size = 32 if syntax == "jpeg2000" or patient == 5 else 16
        for name, data in ct_series_files(
            tmp, patient=patient + 40, slices=2, size=size, transfer_syntax=syntax
        ):
            bases.append(Base(f"base-{patient}-{syntax}-{name}", data, syntax))
    return bases


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _instance_uid(data: bytes, project_key: str) -> str | None:
    try:
        return stored_uids(data, project_key)[0]
    except Exception:  # a mutant that does not parse holds no instance
        return None


def _inputs_holding(ledger: Ledger, sops: set[str], project_key: str) -> list[str]:
    """Names of the sent inputs (or zip members) whose instance is one of ``sops``."""
    found = []
    for name, data in ledger.sent.items():
        candidates = [(name, data)]
        if data.startswith(b"PK\x03\x04"):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    candidates = [
                        (f"{name}/{info.filename}", archive.read(info))
                        for info in archive.infolist()
                        if info.file_size < 2**20  # not the bombs
                    ]
            except Exception:  # a mutated zip: the same candidates as the server's
                candidates = []
        found += [
            f"{label} ({ledger.kinds.get(name, '?')})"
            for label, content in candidates
            if _instance_uid(content, project_key) in sops
        ]
    return found


def check_store_matches_reports(
    ledger: Ledger, orthanc: Any, project: Any, *, series_before: set[int], studies_before: set[int]
) -> set[tuple[str, str]]:
    """No partial store: the store holds exactly the instances the reports called
    accepted or duplicate, and the index rows the uploads wrote match the store.

    Instances are (Series, SOP Instance UID) pairs: a mutant may reuse a SOP Instance
    UID in another series, and duplicates are only looked for within a series."""
    project_key = str(project.pk)
    expected: set[tuple[str, str]] = set()  # de-identified (series, instance) UIDs
    for row_name, series_uid in ledger.claimed.items():
        sop_uid, series_from_file = stored_uids(member_bytes(ledger, row_name), project_key)
        assert series_from_file == series_uid, row_name
        expected.add((series_uid, sop_uid))
    in_store = orthanc_index(orthanc)
    stored = {(series, sop) for (_, series), sops in in_store.items() for sop in sops}
    stranded = stored - expected
    assert not stranded, (
        f"{len(stranded)} instance(s) in the store that no report accepted, from: "
        f"{_inputs_holding(ledger, {sop for _, sop in stranded}, project_key)[:20]}"
    )
    lost = expected - stored
    assert not lost, f"{len(lost)} instance(s) reported accepted but not in the store"

    new_series = Series.objects.exclude(pk__in=series_before).select_related("study")
    indexed = {(s.study.study_instance_uid, s.series_instance_uid): s for s in new_series}
    assert len(indexed) == len(new_series)
    assert set(indexed) == set(in_store), "index rows and stored series differ"
    miscounted = {
        key: (series.slice_count, len(in_store[key]))
        for key, series in indexed.items()
        if series.slice_count != len(in_store[key])
    }
    assert not miscounted, f"Series.slice_count vs instances in the store: {miscounted}"
    assert {s.study.project_id for s in new_series} <= {project.pk}
    new_studies = Study.objects.exclude(pk__in=studies_before)
    assert {s.study_instance_uid for s in new_studies} == {study for study, _ in in_store}
    return stored


def assert_clean(
    ledger: Ledger, orthanc: Any, project: Any, baseline: dict[str, set[int]]
) -> set[tuple[str, str]]:
    """No bad answer and no partial store; both are checked so a 5xx that left
    instances behind reports both."""
    stored: set[tuple[str, str]] = set()
    store_error = ""
    try:
        stored = check_store_matches_reports(ledger, orthanc, project, **baseline)
    except AssertionError as exc:
        store_error = str(exc).split("\nassert")[0]
    failures = [*ledger.problems[:10], *([store_error] if store_error else [])]
    assert not failures, "\n\n".join(failures)
    return stored


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> list[Base]:
    return make_bases(tmp_path_factory.mktemp("fuzz-bases"))


@pytest.fixture
def baseline(world: World) -> dict[str, set[int]]:
    """Index rows that exist before any upload (the world's own)."""
    return {
        "series_before": set(Series.objects.values_list("pk", flat=True)),
        "studies_before": set(Study.objects.values_list("pk", flat=True)),
    }


def test_upload_fuzz_gives_clear_answers_and_no_partial_store(
    world: World, image_store: Any, bases: list[Base], baseline: dict[str, set[int]]
) -> None:
    fuzzer = Fuzzer(bases)
    ledger = Ledger()
    uploader = Uploader(world.users["investigator"], world.project.pk, ledger)

    first = uploader.post([(b.name, "base", b.data) for b in bases])
    assert first.status_code == 201, first.content
    assert first.json()["counts"]["accepted"] == len(bases)

    dicoms = [fuzzer.dicom() for _ in range(DICOM_BATCHED)]
    dicoms += list(fuzzer.value_grid())
    for batch in batches(dicoms, BATCH):
        uploader.post(batch)
    for _ in range(DICOM_SINGLE):
        uploader.post([fuzzer.dicom()])
    zips = [fuzzer.zip() for _ in range(ZIPS)]
    for batch in batches(zips[: ZIPS // 2], ZIP_BATCH):
        uploader.post(batch)
    for item in zips[ZIPS // 2 :]:
        uploader.post([item])
    for bomb in fuzzer.zip_bombs():
        uploader.post([bomb])
    uploader.post([fuzzer.many_members(2500)])
    uploader.post([fuzzer.zip(), fuzzer.dicom(), fuzzer.zip(), fuzzer.dicom()])

    # Configured limits answer with a report (or a 413), never a half-stored upload.
    with override_settings(UPLOAD_MAX_ZIP_MEMBERS=20):
        uploader.post([fuzzer.many_members(30)])
    with override_settings(UPLOAD_MAX_FILE_BYTES=2000):
        uploader.post([fuzzer.dicom(), (fuzzer.name("small_cap"), "small_cap", fuzzer.fresh())])
    with override_settings(UPLOAD_MAX_REQUEST_BYTES=3000):
        too_big = uploader.post([(fuzzer.name("request_cap"), "request_cap", fuzzer.fresh())])
        assert too_big.status_code == 413
    # Malformed forms are 400s, not crashes.
    for form in (
        {"project": world.project.pk},
        {"files": [SimpleUploadedFile("a.dcm", fuzzer.fresh())]},
        {"project": "abc", "files": [SimpleUploadedFile("b.dcm", fuzzer.fresh())]},
        {"project": 10**12, "files": [SimpleUploadedFile("c.dcm", fuzzer.fresh())]},
        {"project": "9" * 30, "files": [SimpleUploadedFile("d.dcm", fuzzer.fresh())]},
        {"project": world.project.pk, "files": "not a file"},
    ):
        assert uploader.post([], form=form).status_code == 400

    assert len(ledger.sent) >= 2000
    stored = assert_clean(ledger, image_store, world.project, baseline)
    print(
        f"\nfuzz: {len(ledger.sent)} inputs in {ledger.requests} requests; "
        f"HTTP {dict(ledger.statuses)}; rows {dict(ledger.outcomes)}; {len(stored)} stored\n"
        f"kinds: {dict(sorted(fuzzer.kinds.items()))}\n"
        f"codes: {dict(sorted(ledger.codes.items()))}"
    )


# --- the cases the fuzz run found, one by one ---------------------------------------


def _zip_data_offset(data: bytes, index: int) -> int:
    """Offset of member ``index``'s compressed bytes (after its local header)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.infolist()[index]
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + name_length + extra_length


def _deflated_zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _corrupt_deflate_stream(fuzzer: Fuzzer) -> bytes:
    # 0x07: final block of the reserved type 3, so inflating raises zlib.error.
    data = bytearray(_deflated_zip([("a.dcm", fuzzer.fresh()), ("b.dcm", fuzzer.fresh())]))
    data[_zip_data_offset(bytes(data), 1)] = 0x07
    return bytes(data)


def _future_zip_version(fuzzer: Fuzzer) -> bytes:
    # "Version needed to extract" 12.4 in the central directory: zipfile raises
    # NotImplementedError when opening the archive.
    data = bytearray(_deflated_zip([("a.dcm", fuzzer.fresh())]))
    at = bytes(data).find(b"PK\x01\x02") + 6
    data[at : at + 2] = struct.pack("<H", 124)
    return bytes(data)


def _unparseable_thickness(fuzzer: Fuzzer) -> bytes:
    return set_value(fuzzer.fresh(fuzzer.bases[0]), 0x00180050, b"DS", b"0x10")


def _unparseable_slice_location(fuzzer: Fuzzer) -> bytes:
    data = set_value(fuzzer.fresh(fuzzer.bases[0]), 0x00200032, b"DS", b"abc ")
    return set_value(data, 0x00201041, b"DS", b"0x10")


def _meta_vr_corrupt(fuzzer: Fuzzer) -> bytes:
    # MediaStorageSOPClassUID's VR "UI" becomes "U\x9f": pydicom converts file meta
    # elements lazily, so the error surfaces outside the parser's try block.
    data = fuzzer.fresh(fuzzer.bases[0])
    element = layout(data).find(T_MS_CLASS)
    assert element is not None and element.vr == b"UI"
    return data[: element.start + 5] + b"\x9f" + data[element.start + 6 :]


def _non_finite_position(value: bytes) -> Callable[[Fuzzer], bytes]:
    def make(fuzzer: Fuzzer) -> bytes:
        data = fuzzer.fresh(fuzzer.bases[0])
        return set_value(data, 0x00200032, b"DS", _pad(b"0\\0\\" + value, b" "))

    return make


def _meta_element_in_data_set(fuzzer: Fuzzer) -> bytes:
    # A group 0002 element after the file meta: parsed into the data set, kept by
    # de-identification, and pydicom refuses to write it (ValueError in the STOW thread).
    data = fuzzer.fresh(fuzzer.bases[0])
    first = layout(data).body[0]
    element = encode_element(T_TS, b"UI", b"1.2.840.10008.1.2.1\0", implicit=False)
    return data[: first.end] + element + data[first.end :]


def _huge_series_number(fuzzer: Fuzzer) -> bytes:
    # First instance of a new series, so its SeriesNumber becomes the index row's.
    data = set_uid(fuzzer.fresh(fuzzer.bases[0]), T_SERIES, fuzzer.fresh_uid())
    return set_value(data, 0x00200011, b"IS", b"99999999999 ")


def _short_jpegls_fragment(fuzzer: Fuzzer) -> bytes:
    # The last fragment loses 16 bytes but keeps its declared length: pydicom and the
    # JPEG-LS decoder accept it, the store (DCMTK) refuses the file.
    jpegls = next(b for b in fuzzer.bases if b.syntax == "jpegls")
    data = fuzzer.fresh(jpegls)
    assert data.endswith(b"\xfe\xff\xdd\xe0\0\0\0\0")
    return data[:-24] + data[-8:]


FOUND_CASES = [
    # 500: zlib.error escapes _read_member (it catches BadZipFile, OSError, ...).
    ("zip_corrupt_deflate_stream", _corrupt_deflate_stream, "zip"),
    # 500: NotImplementedError escapes _open_zip.
    ("zip_future_version", _future_zip_version, "zip"),
    # 500: a file meta value converted outside _parse's try block.
    ("meta_vr_corrupt", _meta_vr_corrupt, "dcm"),
    # 500 from the store thread (and a partial store of the upload's other batches).
    ("meta_element_in_data_set", _meta_element_in_data_set, "dcm"),
    # 500 after STOW-RS, so also a partial store: float() in geometry.slice_geometry.
    ("unparseable_slice_thickness", _unparseable_thickness, "dcm"),
    ("unparseable_slice_location", _unparseable_slice_location, "dcm"),
    # 500 after STOW-RS: Series.series_number is a 32-bit integer column.
    ("series_number_out_of_int32", _huge_series_number, "dcm"),
    # 500 after STOW-RS: PostgreSQL JSON has no Infinity or NaN.
    ("infinite_slice_position", _non_finite_position(b"1e400"), "dcm"),
    ("nan_slice_position", _non_finite_position(b"NaN"), "dcm"),
    # Partial store: the store refuses one file of a STOW-RS batch after storing the
    # others, and every file of the batch is reported rejected.
    ("short_jpegls_fragment_in_batch", _short_jpegls_fragment, "dcm"),
]


@pytest.mark.parametrize(
    ("case", "make", "ext"), [pytest.param(*case, id=case[0]) for case in FOUND_CASES]
)
def test_found_case_gives_clear_answer_and_no_partial_store(
    world: World,
    image_store: Any,
    bases: list[Base],
    baseline: dict[str, set[int]],
    case: str,
    make: Callable[[Fuzzer], bytes],
    ext: str,
) -> None:
    fuzzer = Fuzzer(bases)
    ledger = Ledger()
    uploader = Uploader(world.users["investigator"], world.project.pk, ledger)
    explicit = bases[0]
    # Valid files around the bad one: a failure must not take them down or strand them.
    files = [
        (fuzzer.name("before"), "valid", fuzzer.fresh(explicit)),
        (fuzzer.name(case, ext), case, make(fuzzer)),
        (fuzzer.name("after"), "valid", fuzzer.fresh(explicit)),
    ]
    uploader.post(files)
    assert_clean(ledger, image_store, world.project, baseline)


def test_same_study_with_another_patient_keeps_index_and_store_in_step(
    world: World, image_store: Any, bases: list[Base], baseline: dict[str, set[int]]
) -> None:
    """Instances sharing Study/Series Instance UIDs but not the Patient ID (a flipped
    byte, a merged or corrected patient): the store files them under two patients;
    the index must still count what the store holds for that study and series."""
    fuzzer = Fuzzer(bases)
    ledger = Ledger()
    uploader = Uploader(world.users["investigator"], world.project.pk, ledger)
    first = fuzzer.fresh(bases[0])
    other_patient = set_value(fuzzer.fresh(bases[0]), 0x00100020, b"LO", b"OTHER-PATIENT-1")
    uploader.post([(fuzzer.name("patient_a"), "valid", first)])
    uploader.post([(fuzzer.name("patient_b"), "other_patient", other_patient)])
    assert_clean(ledger, image_store, world.project, baseline)


def test_error_after_a_stored_batch_leaves_nothing_behind(
    world: World, image_store: Any, bases: list[Base], baseline: dict[str, set[int]]
) -> None:
    """A bad file late in a large upload, after earlier files went to the store
    (ingest stores batches while it prepares the next)."""
    fuzzer = Fuzzer(bases)
    ledger = Ledger()
    uploader = Uploader(world.users["investigator"], world.project.pk, ledger)
    files = [(fuzzer.name("valid"), "valid", fuzzer.fresh(bases[0])) for _ in range(24)]
    files.append((fuzzer.name("meta_vr_corrupt"), "meta_vr_corrupt", _meta_vr_corrupt(fuzzer)))
    uploader.post(files)
    assert_clean(ledger, image_store, world.project, baseline)

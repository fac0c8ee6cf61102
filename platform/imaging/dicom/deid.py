"""De-identification of one DICOM instance (PS3.15 Annex E, see ``deid_profile``).

Basic Application Level Confidentiality Profile with the Retain Patient
Characteristics and Retain Longitudinal Temporal Information with Modified Dates
options. Everything derived from the patient or the original UIDs goes through
HMAC-SHA256 with a key that lives only in the environment, scoped to one project:
the same study uploaded twice into a project gets the same pseudonym, the same date
shift and the same UIDs; two projects cannot link their data through any of them.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType

from pydicom import config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

from imaging.dicom import deid_profile as profile
from imaging.dicom.elements import vr_of
from imaging.dicom.part10 import encode_element

PROFILE_VERSION = profile.PROFILE_VERSION

# Shifts of less than a year hide little; ten years keeps dates plausible.
_MIN_SHIFT_DAYS = 365
_MAX_SHIFT_DAYS = 3650
_PSEUDONYM_CHARS = 20  # base32: 100 bits, collision-free at any realistic cohort size
_DUMMY_TEXT = "ANONYMIZED"
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_NUMBER_STRING_VRS = frozenset({"DS", "IS"})
_DUMMY_TEMPORAL = {"DA": "19000101", "DT": "19000101000000", "TM": "000000", "AS": "000D"}


@dataclass(frozen=True)
class DeidResult:
    """The de-identified data set, the patient's pseudonym and the original->new UID map.

    ``uid_map`` holds original UIDs: keep it with the same care as the key.
    ``unchanged``: top-level tags whose element the profile kept exactly as it came
    (same element, same value), so their encoded bytes may be copied from the input.
    ``encoded``: the elements that record the method (constants), already encoded
    in the data set's transfer syntax, for ``imaging.dicom.part10.encode_part10``.
    """

    dataset: Dataset
    pseudonym: str
    uid_map: Mapping[str, str]
    unchanged: frozenset[int] = frozenset()
    encoded: Mapping[int, bytes] = field(default_factory=dict)


@dataclass
class _Context:
    key: bytes
    project_key: str
    pseudonym: str
    shift_days: int
    uid_map: dict[str, str] = field(default_factory=dict)

    def remap_uid(self, uid: str) -> str:
        uid = uid.strip("\0 ")
        if not uid:
            return uid
        if uid not in self.uid_map:
            # 128 bits under the 2.25 root: at most 44 characters, never a leading zero.
            digest = _keyed_hash(self.key, "uid", self.project_key, uid)
            self.uid_map[uid] = "2.25." + str(int.from_bytes(digest[:16], "big"))
        return self.uid_map[uid]


def deidentify(ds: Dataset, *, project_key: str, key: bytes, in_place: bool = False) -> DeidResult:
    """De-identify ``ds``. By default the result is a copy and ``ds`` is left
    untouched; with ``in_place`` the elements of ``ds`` are changed and moved into
    the result (no deep copy, which costs more than the profile itself), and
    ``ds`` must not be used afterwards. Both give the same result."""
    if not key:
        raise ValueError("de-identification key must not be empty")
    if not project_key:
        raise ValueError("project_key must not be empty")
    context = _context_for(ds, project_key=project_key, key=key)
    # Read from the input before the profile changes it (in place, it will).
    source_meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    source_instance = source_meta.get("MediaStorageSOPInstanceUID") or ds.get("SOPInstanceUID")
    work = ds if in_place else copy.deepcopy(ds)
    kept = _apply_profile(work, context)
    # A plain Dataset drops what a FileDataset carries outside its elements
    # (source filename, the 128-byte preamble), which can both hold identifiers.
    # It takes over the elements as they are (unconverted ones stay unconverted).
    out = Dataset(work)
    # Type 2 in every image IOD, and ingest groups studies by it: present even if absent.
    out.PatientID = out.PatientName = context.pseudonym
    out.file_meta = _new_file_meta(source_meta, source_instance, out, context)
    _record_method(out)
    elements = dict(out.items())
    unchanged = frozenset(
        tag
        for tag, (element, value) in kept.items()
        if elements.get(tag) is element and element.value is value
    )
    uid_map = MappingProxyType(dict(context.uid_map))
    return DeidResult(out, context.pseudonym, uid_map, unchanged, _method_encoded_for(out))


def _keyed_hash(key: bytes, purpose: str, *parts: str) -> bytes:
    # Purpose-prefixed, unit-separator-joined: no two inputs share a message.
    message = "\x1f".join((purpose, *parts)).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).digest()


def _context_for(ds: Dataset, *, project_key: str, key: bytes) -> _Context:
    patient_id = str(ds.get("PatientID", "") or "").strip()
    issuer = str(ds.get("IssuerOfPatientID", "") or "").strip()
    if not patient_id:
        # No identifier to link on: each study becomes its own pseudonymous patient.
        patient_id = "study:" + str(ds.get("StudyInstanceUID", "") or "")
    identity = (project_key, patient_id, issuer)
    pseudonym_digest = _keyed_hash(key, "patient", *identity)
    pseudonym = "P-" + base64.b32encode(pseudonym_digest).decode("ascii")[:_PSEUDONYM_CHARS]
    shift_digest = _keyed_hash(key, "date-shift", *identity)
    span = _MAX_SHIFT_DAYS - _MIN_SHIFT_DAYS + 1
    shift = -(_MIN_SHIFT_DAYS + int.from_bytes(shift_digest[:8], "big") % span)
    return _Context(key=key, project_key=project_key, pseudonym=pseudonym, shift_days=shift)


def _build_rules() -> dict[int, str]:
    """Resolve the profile data into one action per tag (options applied)."""
    rules: dict[int, str] = {}
    for keyword, code in {**profile.BASIC_PROFILE, **profile.LOCAL_ADDITIONS}.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"unknown keyword in de-identification profile: {keyword}")
        rules[tag] = profile.COMPOUND_RESOLUTION.get(code, code)
        vr = dictionary_VR(tag)
        if keyword not in profile.MODIFIED_DATES_EXEMPT and vr in ("DA", "DT", "TM"):
            rules[tag] = "K" if vr == "TM" else "S"
    for keyword, code in profile.RETAIN_PATIENT_CHARACTERISTICS.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"unknown keyword in de-identification profile: {keyword}")
        rules[tag] = "K" if code == "K" else "X"
    for keyword in ("PatientID", "PatientName"):
        rules[Tag(keyword)] = "P"
    return rules


_RULES = _build_rules()


def _action_for(tag: int, vr: str) -> str:
    if tag & 0xFFFF == 0:
        return "X"  # group lengths go stale once elements are removed
    if (tag >> 16) & 0xFF00 in (0x5000, 0x6000):
        return "X"  # curves and overlays: the Clean Graphics option is not applied
    rule = _RULES.get(tag)
    if rule is not None:
        return rule
    if vr in ("PN", "UN"):
        return "X"  # unlisted names and uninterpretable bytes are never kept
    return "R" if vr == "SQ" else "K"


def _apply_profile(ds: Dataset, context: _Context) -> dict[int, tuple[object, object]]:
    """Apply the profile to every element of ``ds`` (items of sequences included);
    returns the elements of this level kept as they were, with their values.
    Only values the profile changes are converted: a removed or kept element is
    decided on its tag and VR alone."""
    kept: dict[int, tuple[object, object]] = {}
    for tag, element in list(ds.items()):  # items: elements as they are, unconverted
        number = int(tag)
        if (number >> 16) & 1:
            # No Retain Safe Private option. Deleted unconverted: they may not even parse.
            del ds[tag]
            continue
        action = _action_for(number, vr_of(element, ds))
        if action == "X":
            del ds[tag]
        elif action == "K":
            kept[number] = (element, element.value)
        else:
            _ACTIONS[action](ds, ds[tag], context)
    return kept


def _remove(ds: Dataset, element: DataElement, context: _Context) -> None:
    del ds[element.tag]


def _keep(ds: Dataset, element: DataElement, context: _Context) -> None:
    return None


def _zero(ds: Dataset, element: DataElement, context: _Context) -> None:
    element.value = Sequence() if element.VR == "SQ" else None


def _dummy(ds: Dataset, element: DataElement, context: _Context) -> None:
    vr = element.VR
    if vr == "UI":
        _remap_uids(ds, element, context)
    elif vr in _TEXT_VRS:
        element.value = _DUMMY_TEXT
    elif vr in _DUMMY_TEMPORAL:
        element.value = _DUMMY_TEMPORAL[vr]
    elif vr in _NUMBER_STRING_VRS:
        element.value = "0"
    else:
        _zero(ds, element, context)  # sequences and binary VRs: no meaningful dummy


def _remap_uids(ds: Dataset, element: DataElement, context: _Context) -> None:
    element.value = _map_values(element.value, context.remap_uid)


def _recurse(ds: Dataset, element: DataElement, context: _Context) -> None:
    if element.VR != "SQ" or element.value is None:
        return
    for item in element.value:
        _apply_profile(item, context)


def _pseudonymize(ds: Dataset, element: DataElement, context: _Context) -> None:
    element.value = context.pseudonym


def _shift(ds: Dataset, element: DataElement, context: _Context) -> None:
    shift = context.shift_days
    if element.VR == "DA":
        element.value = _map_values(element.value, lambda v: _shift_da(v, shift))
    elif element.VR == "DT":
        element.value = _map_values(element.value, lambda v: _shift_dt(v, shift))
    else:
        _remove(ds, element, context)  # a temporal row with an unexpected VR


def _map_values(value: object, func: Callable[[str], str]) -> object:
    if value is None or value == "":
        return value
    if isinstance(value, MultiValue | list | tuple):
        return [func(str(v)) for v in value]
    return func(str(value))


def _shift_da(value: str, days: int) -> str:
    value = value.strip()
    if len(value) == 10 and value[4] == value[7] == ".":
        value = value.replace(".", "")  # ACR-NEMA style YYYY.MM.DD
    if len(value) != 8 or not value.isdigit():
        return ""  # unparseable dates are emptied, never passed through
    try:
        shifted = date(int(value[:4]), int(value[4:6]), int(value[6:])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return ""
    return f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}"


def _shift_dt(value: str, days: int) -> str:
    value = value.strip()
    day = _shift_da(value[:8], days) if len(value) >= 8 else ""
    return day + value[8:] if day else ""  # time of day and UTC offset are kept


_ACTIONS: dict[str, Callable[[Dataset, DataElement, _Context], None]] = {
    "X": _remove,
    "K": _keep,
    "Z": _zero,
    "D": _dummy,
    "U": _remap_uids,
    "U*": _recurse,
    "R": _recurse,
    "S": _shift,
    "P": _pseudonymize,
}


def _new_file_meta(
    source_meta: Dataset, instance: object, out: Dataset, context: _Context
) -> FileMetaDataset:
    """Fresh file meta: the source's may carry AE titles and private meta elements.
    ``instance`` is the input's original SOP Instance UID."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    sop_class = out.get("SOPClassUID") or source_meta.get("MediaStorageSOPClassUID")
    if sop_class:
        meta.MediaStorageSOPClassUID = sop_class
    if instance:
        meta.MediaStorageSOPInstanceUID = context.remap_uid(str(instance))
    if source_meta.get("TransferSyntaxUID"):
        meta.TransferSyntaxUID = source_meta.TransferSyntaxUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def _element(keyword: str, value: object) -> tuple[int, str, object]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"unknown keyword: {keyword}")
    return tag, dictionary_VR(tag), value


# What every de-identified instance says about how it was de-identified.
_METHOD_ELEMENTS = (
    _element("PatientIdentityRemoved", "YES"),
    _element("LongitudinalTemporalInformationModified", "MODIFIED"),
    _element(
        "DeidentificationMethod",
        (
            f"{profile.STANDARD_EDITION} Basic Profile",
            *(meaning for _, meaning in profile.METHOD_CODES[1:]),
            f"platform profile {profile.PROFILE_VERSION}",
        ),
    ),
)
_CODE_SEQUENCE, _, _ = _element("DeidentificationMethodCodeSequence", None)
_CODE_ELEMENTS = tuple(
    (
        _element("CodeValue", value),
        _element("CodingSchemeDesignator", "DCM"),
        _element("CodeMeaning", meaning),
    )
    for value, meaning in profile.METHOD_CODES
)


def _record_method(out: Dataset, validation_mode: int = config.IGNORE) -> None:
    """Mark the instance as de-identified and name the profile and options used.
    This runs for every stored instance: elements are built by tag, and their
    values (constants, validated once at import below) are not validated again."""

    def new(tag: int, vr: str, value: object) -> DataElement:
        value = list(value) if isinstance(value, tuple) else value
        return DataElement(tag, vr, value, validation_mode=validation_mode)

    for tag, vr, value in _METHOD_ELEMENTS:
        out[tag] = new(tag, vr, value)
    codes = Sequence()
    for elements in _CODE_ELEMENTS:
        item = Dataset()
        for tag, vr, value in elements:
            item[tag] = new(tag, vr, value)
        codes.append(item)
    out[_CODE_SEQUENCE] = new(_CODE_SEQUENCE, "SQ", codes)


@functools.cache
def _method_encoded(implicit_vr: bool) -> Mapping[int, bytes]:
    """The method elements as encode_part10 would write them, encoded once: their
    values are ASCII constants, the same bytes in every character set."""
    template = Dataset()
    _record_method(template, validation_mode=config.RAISE)  # the constants are valid DICOM
    return MappingProxyType(
        {
            int(tag): encode_element(element, implicit_vr=implicit_vr)
            for tag, element in template.items()
        }
    )


def _method_encoded_for(out: Dataset) -> Mapping[int, bytes]:
    try:
        syntax = UID(out.file_meta.TransferSyntaxUID)
        implicit_vr, little_endian = syntax.is_implicit_VR, syntax.is_little_endian
    except (AttributeError, ValueError):  # no transfer syntax, or not a known one
        return {}
    return _method_encoded(implicit_vr) if little_endian else {}


_method_encoded(implicit_vr=False)

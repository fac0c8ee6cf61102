"""Upload validation: what is accepted, quarantined or rejected, and safe zip reading."""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile
from collections.abc import Callable

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000,
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    XRayRadiationDoseSRStorage,
)

from imaging.dicom.archives import iter_zip_members
from imaging.dicom.validation import (
    ArchiveRejected,
    DicomRejected,
    ValidatedInstance,
    is_valid_uid,
    validate_dicom_bytes,
)

MAX_BYTES = 1 << 20
SOP_UID = "1.2.826.0.1.3680043.8.498.10"
STUDY_UID = "1.2.826.0.1.3680043.8.498.11"
SERIES_UID = "1.2.826.0.1.3680043.8.498.12"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(300)


def make_image(size: int = 16, frames: int = 1, sop_class: str = CTImageStorage) -> Dataset:
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = SOP_UID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = SOP_UID
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.Modality = "CT"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    pixels = np.arange(frames * size * size, dtype=np.uint16) % 4096
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = pixels.tobytes()
    return ds


def to_bytes(ds: Dataset, *, implicit: bool = False) -> bytes:
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def compressed(transfer_syntax: str, size: int = 16, **kwargs: object) -> bytes:
    ds = make_image(size)
    ds.compress(transfer_syntax, generate_instance_uid=False, **kwargs)
    return to_bytes(ds)


def validate(data: bytes) -> ValidatedInstance:
    return validate_dicom_bytes(data, max_bytes=MAX_BYTES)


def rejected(data: bytes) -> str:
    with pytest.raises(DicomRejected) as caught:
        validate(data)
    assert caught.value.message
    return caught.value.reason_code


def edited(change: Callable[[Dataset], None]) -> bytes:
    ds = make_image()
    change(ds)
    return to_bytes(ds)


# --- accepted -----------------------------------------------------------------------


def test_uncompressed_ct_accepted_with_uids() -> None:
    result = validate(to_bytes(make_image()))
    assert not result.quarantine and result.quarantine_reason is None
    assert result.sop_class_uid == CTImageStorage
    assert (result.study_instance_uid, result.series_instance_uid) == (STUDY_UID, SERIES_UID)
    assert result.sop_instance_uid == SOP_UID
    assert result.transfer_syntax_uid == ExplicitVRLittleEndian
    assert result.dataset.Rows == 16


def test_implicit_vr_and_multiframe_enhanced_ct_accepted() -> None:
    assert validate(to_bytes(make_image(), implicit=True)).transfer_syntax_uid == (
        ImplicitVRLittleEndian
    )
    enhanced = make_image(frames=3, sop_class=EnhancedCTImageStorage)
    assert validate(to_bytes(enhanced)).sop_class_uid == EnhancedCTImageStorage


@pytest.mark.parametrize(
    ("transfer_syntax", "size", "options"),
    [
        (RLELossless, 16, {}),
        (JPEGLSLossless, 16, {}),
        # OpenJPEG needs enough pixels for its default number of resolutions.
        (JPEG2000Lossless, 64, {}),
        (JPEG2000, 64, {"j2k_cr": [10]}),
    ],
)
def test_compressed_ct_decoded_and_accepted(
    transfer_syntax: str, size: int, options: dict[str, object]
) -> None:
    result = validate(compressed(transfer_syntax, size, **options))
    assert result.transfer_syntax_uid == transfer_syntax
    assert not result.quarantine


# --- quarantined --------------------------------------------------------------------


def test_secondary_capture_quarantined() -> None:
    result = validate(to_bytes(make_image(sop_class=SecondaryCaptureImageStorage)))
    assert result.quarantine and result.quarantine_reason == "secondary_capture"


def test_radiation_dose_sr_quarantined() -> None:
    ds = make_image(sop_class=XRayRadiationDoseSRStorage)
    for keyword in ("PixelData", "Rows", "Columns", "BitsAllocated"):
        delattr(ds, keyword)
    ds.Modality = "SR"
    result = validate(to_bytes(ds))
    assert result.quarantine and result.quarantine_reason == "structured_report"


def test_burned_in_annotation_quarantined() -> None:
    result = validate(edited(lambda ds: setattr(ds, "BurnedInAnnotation", "YES")))
    assert result.quarantine and result.quarantine_reason == "burned_in_annotation"
    assert not validate(edited(lambda ds: setattr(ds, "BurnedInAnnotation", "NO"))).quarantine


# --- rejected -----------------------------------------------------------------------


def test_size_cap_and_empty() -> None:
    data = to_bytes(make_image())
    with pytest.raises(DicomRejected) as caught:
        validate_dicom_bytes(data, max_bytes=len(data) - 1)
    assert caught.value.reason_code == "too_large"
    assert rejected(b"") == "empty"


@pytest.mark.parametrize(
    "data",
    [
        PNG_BYTES,
        b"Patient: Jane Doe\nThis is a text file.\n" * 10,
        bytes(128) + b"DICX" + bytes(64),
    ],
)
def test_wrong_file_types_rejected(data: bytes) -> None:
    assert rejected(data) == "not_dicom"


def test_dataset_without_part10_header_rejected() -> None:
    ds = make_image()
    del ds.file_meta
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    raw = buffer.getvalue()
    assert raw[128:132] != b"DICM"
    assert rejected(raw) == "not_dicom"


@pytest.mark.parametrize("cut", [1, 20, 260, 800])
def test_truncated_file_rejected(cut: int) -> None:
    # Cuts inside the pixel data, inside a UID and inside the study attributes.
    assert rejected(to_bytes(make_image())[:-cut]) == "truncated"


def test_truncated_inside_meta_header_rejected() -> None:
    assert rejected(to_bytes(make_image())[:140]) in {"truncated", "missing_file_meta"}


def test_bad_pixel_length_rejected() -> None:
    def shorten(ds: Dataset) -> None:
        ds.PixelData = ds.PixelData[:-2]

    assert rejected(edited(shorten)) == "pixel_length_mismatch"
    assert rejected(edited(lambda ds: setattr(ds, "Rows", 17))) == "pixel_length_mismatch"
    assert rejected(edited(lambda ds: setattr(ds, "NumberOfFrames", 2))) == (
        "pixel_length_mismatch"
    )


def test_bad_geometry_and_missing_pixels_rejected() -> None:
    assert rejected(edited(lambda ds: setattr(ds, "BitsAllocated", 12))) == "bad_image_geometry"
    assert rejected(edited(lambda ds: setattr(ds, "Columns", 0))) == "bad_image_geometry"
    assert rejected(edited(lambda ds: delattr(ds, "PixelData"))) == "missing_pixel_data"


def test_decoded_pixels_checked_against_header() -> None:
    ds = pydicom.dcmread(io.BytesIO(compressed(RLELossless)))
    ds.NumberOfFrames = 2
    assert rejected(to_bytes(ds)) == "pixel_shape_mismatch"
    ds = pydicom.dcmread(io.BytesIO(compressed(RLELossless)))
    ds.Rows = 32
    assert rejected(to_bytes(ds)) in {"pixel_shape_mismatch", "pixel_decode_failed"}


def test_corrupt_codestream_rejected() -> None:
    ds = pydicom.dcmread(io.BytesIO(compressed(RLELossless)))
    ds.PixelData = encapsulate([b"\x01\x00\x00\x00" + bytes(60)])
    assert rejected(to_bytes(ds)) == "pixel_decode_failed"


@pytest.mark.parametrize(
    "keyword", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID"]
)
def test_missing_uids_rejected(keyword: str) -> None:
    assert rejected(edited(lambda ds: delattr(ds, keyword))) == "missing_uid"


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom flags the bad UIDs we write
@pytest.mark.parametrize("bad", ["1.2.03.4", "1.2..3", "1.2.3a", "1." + "2" * 70])
def test_malformed_uid_rejected(bad: str) -> None:
    assert not is_valid_uid(bad)
    assert rejected(edited(lambda ds: setattr(ds, "StudyInstanceUID", bad))) == "invalid_uid"


def test_meta_mismatch_rejected() -> None:
    # pydicom syncs the meta UID on write, so patch the first (file meta) occurrence.
    data = to_bytes(make_image())
    other = SOP_UID[:-1] + "9"
    assert rejected(data.replace(SOP_UID.encode(), other.encode(), 1)) == "meta_mismatch"


def test_other_sop_class_rejected() -> None:
    assert rejected(to_bytes(make_image(sop_class=MRImageStorage))) == "sop_class_not_allowed"


def test_transfer_syntax_outside_allow_list_rejected() -> None:
    ds = make_image()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    assert rejected(to_bytes(ds)) == "transfer_syntax_not_allowed"


def test_decoded_size_capped() -> None:
    with pytest.raises(DicomRejected) as caught:
        validate_dicom_bytes(compressed(RLELossless), max_bytes=MAX_BYTES, max_pixel_bytes=100)
    assert caught.value.reason_code == "pixel_too_large"


# --- zip archives -------------------------------------------------------------------

LIMITS = {
    "max_members": 10,
    "max_total_uncompressed": 100_000,
    "max_member_bytes": 50_000,
    "max_ratio": 50.0,
}


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on the duplicate-name case
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in entries:
                archive.writestr(name, content)
    return buffer.getvalue()


def zip_rejected(data: bytes, **limits: float) -> str:
    with pytest.raises(ArchiveRejected) as caught:
        list(iter_zip_members(data, **{**LIMITS, **limits}))
    assert caught.value.message
    return caught.value.reason_code


def test_zip_yields_regular_files_and_skips_junk() -> None:
    data = make_zip(
        [
            ("study/", b""),
            ("study/a.dcm", b"first"),
            ("study/sub/b.dcm", b"second"),
            ("__MACOSX/study/._a.dcm", b"resource fork"),
            ("study/.DS_Store", b"finder"),
            ("study/._b.dcm", b"appledouble"),
        ]
    )
    members = list(iter_zip_members(data, **LIMITS))
    assert members == [("study/a.dcm", b"first"), ("study/sub/b.dcm", b"second")]


@pytest.mark.parametrize(
    "name", ["../evil.dcm", "/etc/evil.dcm", "a\\..\\evil.dcm", "C:/evil.dcm", "a/../../evil.dcm"]
)
def test_zip_slip_names_rejected(name: str) -> None:
    info = zipfile.ZipInfo(name)
    assert zip_rejected(make_zip([("ok.dcm", b"x"), (info, b"evil")])) == "zip_unsafe_path"


def test_zip_symlink_rejected() -> None:
    link = zipfile.ZipInfo("study/link.dcm")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert zip_rejected(make_zip([(link, b"/etc/passwd")])) == "zip_symlink"


def test_zip_encrypted_member_rejected() -> None:
    # zipfile cannot write encrypted entries: set the encryption flag bit in the headers.
    data = bytearray(make_zip([("secret.dcm", b"not really encrypted")]))
    _patch_headers(data, local_offset=6, central_offset=8, fmt="<H", value=0x1)
    assert zip_rejected(bytes(data)) == "zip_encrypted"


def test_zip_bomb_ratio_rejected() -> None:
    assert zip_rejected(make_zip([("bomb.dcm", bytes(40_000))])) == "zip_ratio_exceeded"


def test_zip_bomb_refused_from_headers_before_any_member() -> None:
    data = make_zip([("first.dcm", b"fine"), ("bomb.dcm", bytes(40_000))])
    with pytest.raises(ArchiveRejected) as caught:
        next(iter_zip_members(data, **LIMITS))
    assert caught.value.reason_code == "zip_ratio_exceeded"


def test_zip_member_and_total_size_limits() -> None:
    big = np.random.default_rng(0).bytes(20_000)
    assert zip_rejected(make_zip([("big.dcm", big)]), max_member_bytes=10_000) == (
        "zip_member_too_large"
    )
    many = make_zip([(f"{number}.dcm", big) for number in range(3)])
    assert zip_rejected(many, max_total_uncompressed=50_000) == "zip_too_large_total"


def test_zip_lying_header_caught_while_reading() -> None:
    data = bytearray(make_zip([("bomb.dcm", bytes(40_000))]))
    # Uncompressed size fields: the headers now claim 100 bytes for 40,000.
    _patch_headers(data, local_offset=22, central_offset=24, fmt="<I", value=100)
    assert zip_rejected(bytes(data)) == "zip_corrupt_member"


def test_zip_too_many_members_rejected() -> None:
    data = make_zip([(f"{number}.dcm", b"x") for number in range(4)])
    assert zip_rejected(data, max_members=3) == "zip_too_many_members"


def test_zip_duplicate_names_rejected() -> None:
    assert zip_rejected(make_zip([("a.dcm", b"1"), ("a.dcm", b"2")])) == "zip_duplicate_member"


def test_not_a_zip_rejected() -> None:
    assert zip_rejected(PNG_BYTES) == "zip_invalid"


def test_zip_checked_before_first_member_is_yielded() -> None:
    data = make_zip([("first.dcm", b"fine"), (zipfile.ZipInfo("../evil.dcm"), b"evil")])
    members = iter_zip_members(data, **LIMITS)
    with pytest.raises(ArchiveRejected):
        next(members)


def _patch_headers(
    data: bytearray, *, local_offset: int, central_offset: int, fmt: str, value: int
) -> None:
    """Overwrite one field in every local and central directory header of a zip."""
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        start = data.find(signature)
        while start != -1:
            struct.pack_into(fmt, data, start + offset, value)
            start = data.find(signature, start + 4)

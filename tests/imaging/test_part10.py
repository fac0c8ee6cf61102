"""Part-10 encoding of de-identified instances (imaging.dicom.part10): the bytes
the profile left alone are copied from the upload, the rest encoded by pydicom,
and the result is what pydicom's own writer gives for the same data set."""

import copy
import io
import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from imaging.dicom.deid import deidentify
from imaging.dicom.part10 import element_span, encode_part10, file_meta_bytes
from imaging.dicom.validation import validate_dicom_bytes
from imaging.dicomweb import _as_part10
from tests.imaging.dicom_samples import ct_series_files
from tests.imaging.test_deid import make_ct, to_bytes

KEY = b"test-key-not-a-secret-0123456789"
SYNTAXES = ["explicit", "implicit", "rle", "jpeg2000", "jpegls"]


def _pydicom_written(data: bytes) -> bytes:
    """The previous path: de-identify a copy, write it all with pydicom."""
    valid = validate_dicom_bytes(data, max_bytes=1 << 30)
    result = deidentify(valid.dataset, project_key="7", key=KEY)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, _as_part10(result.dataset))
    return buffer.getvalue()


def _spliced(data: bytes) -> tuple[bytes, frozenset[int]]:
    valid = validate_dicom_bytes(data, max_bytes=1 << 30)
    result = deidentify(valid.dataset, project_key="7", key=KEY, in_place=True)
    encoded = encode_part10(
        result.dataset,
        source=data,
        spans=valid.spans,
        unchanged=result.unchanged,
        encoded=result.encoded,
    )
    return encoded, result.unchanged


def _elements(data: bytes) -> list[tuple[str, str, str]]:
    ds = pydicom.dcmread(io.BytesIO(data))
    return [(str(e.tag), e.VR, repr(e.value)) for e in ds.iterall()]


def _data_set_bytes(data: bytes) -> bytes:
    """Everything after the file meta group (whose length pydicom may or may not write)."""
    position = 132
    while struct.unpack_from("<H", data, position)[0] == 2:
        if data[position + 4 : position + 6] in (b"OB", b"OW", b"UN", b"UT", b"SQ"):
            position += 12 + struct.unpack_from("<I", data, position + 8)[0]
        else:
            position += 8 + struct.unpack_from("<H", data, position + 6)[0]
    return data[position:]


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_spliced_output_equals_pydicom_output(tmp_path: Path, syntax: str) -> None:
    for _, data in ct_series_files(tmp_path, slices=2, transfer_syntax=syntax):
        spliced, unchanged = _spliced(data)
        reference = _pydicom_written(data)
        assert unchanged  # something was copied, not re-encoded
        assert _elements(spliced) == _elements(reference)
        assert _data_set_bytes(spliced) == _data_set_bytes(reference)
        meta = pydicom.dcmread(io.BytesIO(spliced)).file_meta
        sent = pydicom.dcmread(io.BytesIO(data)).file_meta
        assert meta.FileMetaInformationGroupLength > 0  # conformant file meta
        assert meta.TransferSyntaxUID == sent.TransferSyntaxUID


def test_canary_instance_spliced_like_pydicom_writes_it() -> None:
    data = to_bytes(make_ct())
    spliced, _ = _spliced(data)
    assert _elements(spliced) == _elements(_pydicom_written(data))
    assert b"PHICANARY" not in spliced


def test_without_spans_everything_is_encoded(tmp_path: Path) -> None:
    data = ct_series_files(tmp_path, slices=1)[0][1]
    valid = validate_dicom_bytes(data, max_bytes=1 << 30)
    result = deidentify(valid.dataset, project_key="7", key=KEY, in_place=True)
    encoded = encode_part10(result.dataset)  # no source: nothing to copy from
    assert _data_set_bytes(encoded) == _data_set_bytes(_pydicom_written(data))


def test_span_must_match_the_bytes(tmp_path: Path) -> None:
    data = ct_series_files(tmp_path, slices=1)[0][1]
    ds = pydicom.dcmread(io.BytesIO(data))
    raw = ds.get_item(0x00080060)  # Modality
    span = element_span(raw, data)
    assert span is not None
    assert data[span.start : span.end].startswith(b"\x08\x00\x60\x00CS")
    shifted = b"\0\0" + data  # same element, other place: refused, not misplaced
    assert element_span(raw, shifted) is None
    short = data[: span.end - 1]
    assert element_span(raw, short) is None


def test_big_endian_is_refused() -> None:
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.2"
    with pytest.raises(ValueError):
        encode_part10(ds)


def _pydicom_meta(meta: pydicom.dataset.FileMetaDataset) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, copy.deepcopy(meta), enforce_standard=True)
    return buffer.getvalue()


def test_file_meta_encoded_as_pydicom_writes_it(tmp_path: Path) -> None:
    data = ct_series_files(tmp_path, slices=1)[0][1]
    valid = validate_dicom_bytes(data, max_bytes=1 << 30)
    meta = deidentify(valid.dataset, project_key="7", key=KEY).dataset.file_meta
    assert file_meta_bytes(copy.deepcopy(meta)) == _pydicom_meta(meta)
    meta.SourceApplicationEntityTitle = "ODD"  # odd length: padded
    assert file_meta_bytes(copy.deepcopy(meta)) == _pydicom_meta(meta)
    meta.PrivateInformationCreatorUID = "1.2.3"
    meta.PrivateInformation = b"\x01\x02\x03"
    assert file_meta_bytes(copy.deepcopy(meta)) == _pydicom_meta(meta)
    meta.add_new(0x00020102, "OB", None)  # not a simple element: pydicom writes it
    assert file_meta_bytes(copy.deepcopy(meta)) == _pydicom_meta(meta)

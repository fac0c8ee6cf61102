"""Synthetic CT generator: valid DICOM, lossless pixels, geometry and PHI canaries."""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    CTImageStorage,
    JPEGLosslessSV1,
    SecondaryCaptureImageStorage,
    XRayRadiationDoseSRStorage,
)

from ml_worker.synthetic import (
    CANARY_PREFIX,
    PHI_TEXT_KEYWORDS,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    TRANSFER_SYNTAXES,
    CTVolume,
    SyntheticPatient,
    canary_strings,
    make_ct_volume,
    make_patient,
    make_study,
    resolve_transfer_syntax,
    write_ct_series,
    write_dose_report,
    write_secondary_capture,
)
from ml_worker.synthetic.__main__ import get_args_parser, main

N_SLICES, ROWS, COLS = 8, 64, 64

# Listed here, not imported, so a tag dropped from the writer fails the test.
PHI_KEYWORDS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientAddress", "OtherPatientNames",
    "PatientBirthName", "PatientMotherBirthName", "PatientTelephoneNumbers", "EthnicGroup",
    "Occupation", "PatientComments", "AdditionalPatientHistory", "AccessionNumber", "StudyID",
    "StudyDescription", "SeriesDescription", "ProtocolName", "ReferringPhysicianName",
    "RequestingPhysician", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
    "PerformingPhysicianName", "OperatorsName", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber", "ImageComments",
)  # fmt: skip
# Text attributes that legitimately hold no PHI (equipment, codes, private creator).
NON_PHI_TEXT = {
    "Manufacturer", "ManufacturerModelName", "SoftwareVersions", "ConvolutionKernel",
    "FilterType", "RescaleType", "WindowCenterWidthExplanation", "PositionReferenceIndicator",
    "CodeValue", "CodingSchemeDesignator", "CodeMeaning", "ImplementationVersionName",
}  # fmt: skip
TEXT_VRS = {"PN", "LO", "SH", "LT", "ST", "UT"}


@pytest.fixture(scope="module")
def volume() -> CTVolume:
    return make_ct_volume(n_slices=N_SLICES, rows=ROWS, cols=COLS, seed=3)


@pytest.fixture(scope="module")
def patient() -> SyntheticPatient:
    return make_patient(7, seed=3)


@pytest.fixture(scope="module")
def ct_files(
    volume: CTVolume, patient: SyntheticPatient, tmp_path_factory: pytest.TempPathFactory
) -> list[Path]:
    return write_ct_series(volume, tmp_path_factory.mktemp("ct"), patient=patient)


@pytest.fixture(scope="module")
def ct_datasets(ct_files: list[Path]) -> list[Dataset]:
    return [pydicom.dcmread(path) for path in ct_files]


def _hu(ds: Dataset) -> np.ndarray:
    return ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)


def _text_elements(ds: Dataset) -> list[pydicom.DataElement]:
    return [element for element in ds.iterall() if element.VR in TEXT_VRS]


def test_volume_is_plausible_trunk(volume: CTVolume) -> None:
    assert volume.hu.dtype == np.int16 and volume.shape == (N_SLICES, ROWS, COLS)
    assert np.all(np.diff(volume.slice_positions_mm) == -volume.slice_thickness_mm)
    middle = volume.hu[:, ROWS // 2, :]
    assert np.median(volume.hu[:, 0, :]) < -950  # air outside the body
    assert np.mean((middle > -190) & (middle < -30)) > 0.05  # subcutaneous fat
    assert np.mean((middle > -29) & (middle < 150)) > 0.3  # muscle and viscera
    spine = volume.hu[:, ROWS // 2 :, COLS // 2 - 2 : COLS // 2 + 2]
    assert spine.max() > 250  # vertebral bone posterior to the centre
    assert not volume.hu.flags.writeable


def test_volume_rejects_inconsistent_geometry() -> None:
    hu = np.zeros((3, 4, 4), dtype=np.int16)
    with pytest.raises(ValueError, match="decrease"):
        CTVolume(hu, (1.0, 1.0), 1.0, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="int16"):
        CTVolume(hu.astype(np.float32), (1.0, 1.0), 1.0, np.array([2.0, 1.0, 0.0]))


def test_volume_is_deterministic_by_seed() -> None:
    first = make_ct_volume(n_slices=2, rows=32, cols=32, seed=1)
    again = make_ct_volume(n_slices=2, rows=32, cols=32, seed=1)
    other = make_ct_volume(n_slices=2, rows=32, cols=32, seed=2)
    assert np.array_equal(first.hu, again.hu)
    assert not np.array_equal(first.hu, other.hu)


def test_ct_files_are_valid_part10_ct(ct_files: list[Path], ct_datasets: list[Dataset]) -> None:
    assert all(path.read_bytes()[128:132] == b"DICM" for path in ct_files)
    for ds in ct_datasets:
        assert ds.SOPClassUID == CTImageStorage == ds.file_meta.MediaStorageSOPClassUID
        assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
        assert ds.Modality == "CT" and list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
        assert ds.BitsAllocated == 16 and ds.HighBit == ds.BitsStored - 1
        assert (ds.RescaleIntercept, ds.RescaleSlope) == (-1024, 1)
        assert ds.BurnedInAnnotation == "NO"
    assert len({ds.SOPInstanceUID for ds in ct_datasets}) == N_SLICES
    assert len({ds.SeriesInstanceUID for ds in ct_datasets}) == 1
    assert len({ds.FrameOfReferenceUID for ds in ct_datasets}) == 1


@pytest.mark.parametrize("pixel_representation", [0, 1])
@pytest.mark.parametrize("name", sorted(TRANSFER_SYNTAXES))
def test_pixels_round_trip_losslessly(
    volume: CTVolume,
    patient: SyntheticPatient,
    tmp_path: Path,
    name: str,
    pixel_representation: int,
) -> None:
    paths = write_ct_series(
        volume,
        tmp_path,
        patient=patient,
        transfer_syntax=name,
        pixel_representation=pixel_representation,
    )
    for index, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == TRANSFER_SYNTAXES[name]
        assert ds.PixelRepresentation == pixel_representation
        assert ds.BitsStored == (12 if pixel_representation == 0 else 16)
        assert np.array_equal(_hu(ds), volume.hu[index])


def test_geometry_matches_volume(volume: CTVolume, ct_datasets: list[Dataset]) -> None:
    z = [float(ds.ImagePositionPatient[2]) for ds in ct_datasets]
    assert [ds.InstanceNumber for ds in ct_datasets] == list(range(1, N_SLICES + 1))
    assert z == sorted(z, reverse=True)  # instance 1 is the most superior slice
    assert np.allclose(z, volume.slice_positions_mm)
    assert np.allclose(np.diff(z), -volume.slice_thickness_mm)
    for ds in ct_datasets:
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert np.allclose([float(v) for v in ds.PixelSpacing], volume.pixel_spacing_mm)
        assert float(ds.SliceThickness) == volume.slice_thickness_mm
        assert float(ds.SliceLocation) == float(ds.ImagePositionPatient[2])
        # The field of view is centred on the table axis.
        x0, y0 = (float(v) for v in ds.ImagePositionPatient[:2])
        assert np.isclose(x0, -(COLS - 1) / 2 * volume.pixel_spacing_mm[1])
        assert np.isclose(y0, -(ROWS - 1) / 2 * volume.pixel_spacing_mm[0])


def test_phi_tags_hold_canaries(ct_datasets: list[Dataset]) -> None:
    ds = ct_datasets[0]
    for keyword in PHI_KEYWORDS:
        assert CANARY_PREFIX in str(ds.data_element(keyword).value), keyword
    assert set(PHI_TEXT_KEYWORDS) <= set(PHI_KEYWORDS)


def test_nested_and_private_tags_hold_canaries(ct_datasets: list[Dataset]) -> None:
    ds = ct_datasets[0]
    for item in ds.OtherPatientIDsSequence:
        assert CANARY_PREFIX in item.PatientID and CANARY_PREFIX in item.IssuerOfPatientID
    request = ds.RequestAttributesSequence[0]
    for keyword in ("AccessionNumber", "RequestedProcedureID", "ScheduledProcedureStepID"):
        assert CANARY_PREFIX in request.data_element(keyword).value, keyword
    assert ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    for offset in (0x10, 0x11, 0x12):
        assert CANARY_PREFIX in block[offset].value
    assert CANARY_PREFIX in str(block[0x13].value[0].PatientName)


def test_every_text_element_that_can_hold_phi_has_a_canary(ct_datasets: list[Dataset]) -> None:
    ds = ct_datasets[0]
    for element in _text_elements(ds):
        if element.keyword in NON_PHI_TEXT or element.tag.is_private_creator:
            continue
        assert CANARY_PREFIX in str(element.value), element


def test_identity_canaries_all_reach_the_file(
    patient: SyntheticPatient, ct_files: list[Path], ct_datasets: list[Dataset]
) -> None:
    study = make_study(patient)
    expected = canary_strings(patient) | canary_strings(study)
    expected.discard(study.observer_name)  # only the dose SR has an observer
    assert expected <= canary_strings(ct_datasets[0])
    assert expected <= canary_strings(ct_files[0].read_bytes())


def test_implicit_vr_keeps_private_canaries(
    volume: CTVolume, patient: SyntheticPatient, tmp_path: Path, ct_datasets: list[Dataset]
) -> None:
    # Without explicit VRs the private SQ reads back as UN bytes: still searchable.
    path = write_ct_series(volume, tmp_path, patient=patient, transfer_syntax="implicit")[0]
    assert canary_strings(pydicom.dcmread(path)) == canary_strings(ct_datasets[0])
    assert any("PrivateSequenceName" in found for found in canary_strings(path.read_bytes()))


def test_series_files_are_byte_identical_for_same_seed(
    volume: CTVolume, patient: SyntheticPatient, tmp_path: Path
) -> None:
    first = write_ct_series(volume, tmp_path / "a", patient=patient, transfer_syntax="jpeg2000")
    again = write_ct_series(volume, tmp_path / "b", patient=patient, transfer_syntax="jpeg2000")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]


def test_identities_differ_by_index_and_seed() -> None:
    assert make_patient(1, seed=0) == make_patient(1, seed=0)
    assert make_patient(1, seed=0).name != make_patient(2, seed=0).name
    other_seed = make_patient(1, seed=5)
    assert other_seed.birth_date != make_patient(1, seed=0).birth_date


def test_retained_characteristics_are_realistic() -> None:
    for index in range(40):
        patient = make_patient(index, seed=11)
        study = make_study(patient, seed=11)
        assert patient.sex in {"M", "F"}
        assert 18 <= patient.age_years <= 100
        assert 1.4 <= patient.height_m <= 2.1 and 15 <= patient.bmi <= 45
        assert _age_on(patient.birth_date, study.study_date) == patient.age_years
        assert study.study_date <= date(2025, 1, 1)


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def test_retained_characteristics_are_written_without_canaries(
    patient: SyntheticPatient, ct_datasets: list[Dataset]
) -> None:
    ds = ct_datasets[0]
    assert ds.PatientSex == patient.sex
    assert ds.PatientAge == f"{patient.age_years:03d}Y"
    assert float(ds.PatientSize) == patient.height_m
    assert float(ds.PatientWeight) == patient.weight_kg
    retained = (ds.PatientSex, ds.PatientAge, ds.PatientSize, ds.PatientWeight, ds.KVP)
    assert not any(CANARY_PREFIX in str(value) for value in retained)


def test_burned_in_annotation_is_flagged_and_painted(
    volume: CTVolume, patient: SyntheticPatient, tmp_path: Path
) -> None:
    path = write_ct_series(volume, tmp_path, patient=patient, burned_in_annotation=True)[0]
    ds = pydicom.dcmread(path)
    assert ds.BurnedInAnnotation == "YES"
    assert (_hu(ds)[:8, :16] != volume.hu[0, :8, :16]).any()
    assert np.array_equal(_hu(ds)[ROWS // 2 :], volume.hu[0, ROWS // 2 :])


def test_secondary_capture_is_a_reject_candidate(patient: SyntheticPatient, tmp_path: Path) -> None:
    ds = pydicom.dcmread(write_secondary_capture(tmp_path, patient=patient))
    assert ds.SOPClassUID == SecondaryCaptureImageStorage
    assert ds.BurnedInAnnotation == "YES" and ds.Modality == "OT"
    assert ds.pixel_array.shape == (64, 64)
    assert canary_strings(patient) <= canary_strings(ds)


def test_dose_report_is_sr_with_nested_canaries(patient: SyntheticPatient, tmp_path: Path) -> None:
    ds = pydicom.dcmread(write_dose_report(tmp_path, patient=patient, dlp_mgy_cm=612.5))
    assert ds.SOPClassUID == XRayRadiationDoseSRStorage == "1.2.840.10008.5.1.4.1.1.88.67"
    assert ds.Modality == "SR" and "PixelData" not in ds
    content = {item.ValueType: item for item in ds.ContentSequence}
    assert CANARY_PREFIX in str(content["PNAME"].PersonName)
    assert CANARY_PREFIX in content["TEXT"].TextValue
    dlp = content["CONTAINER"].ContentSequence[1].MeasuredValueSequence[0].NumericValue
    assert float(dlp) == 612.5


def test_transfer_syntax_resolution() -> None:
    assert resolve_transfer_syntax("rle") == TRANSFER_SYNTAXES["rle"]
    assert resolve_transfer_syntax(str(TRANSFER_SYNTAXES["jpegls"])) == TRANSFER_SYNTAXES["jpegls"]
    with pytest.raises(ValueError, match="unsupported"):
        resolve_transfer_syntax(JPEGLosslessSV1)  # pydicom has no encoder for it


def test_hu_outside_stored_range_is_refused(patient: SyntheticPatient, tmp_path: Path) -> None:
    hu = np.full((1, 8, 8), 3100, dtype=np.int16)  # above 4095 stored in 12 bits
    volume = CTVolume(hu, (1.0, 1.0), 1.0, np.array([0.0]))
    with pytest.raises(ValueError, match="range"):
        write_ct_series(volume, tmp_path, patient=patient)
    assert write_ct_series(volume, tmp_path, patient=patient, pixel_representation=1)


def test_cli_writes_patient_series_layout(tmp_path: Path) -> None:
    args = get_args_parser().parse_args(
        ["--out", str(tmp_path), "--patients", "2", "--slices", "3", "--rows", "32"]
    )
    assert isinstance(args, argparse.Namespace) and args.transfer_syntax == "explicit"
    main(args)
    files = sorted(tmp_path.glob("*/*/*.dcm"))
    assert [f.relative_to(tmp_path).parts[:2] for f in files[::3]] == [
        ("patient00", "series001_ct"),
        ("patient01", "series001_ct"),
    ]
    first, second = (pydicom.dcmread(files[i]) for i in (0, 3))
    assert first.PatientID != second.PatientID and first.Rows == 32


def test_ml_worker_synthetic_imports_no_django() -> None:
    code = (
        "import sys, ml_worker.synthetic; "
        "sys.exit(any(m == 'django' or m.startswith(('django.', 'config')) for m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0

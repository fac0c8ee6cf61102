"""De-identification: no PHI survives, the options keep what they promise, UIDs stay linked."""

from __future__ import annotations

import io
import re
from datetime import date

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from imaging.dicom import deid_profile
from imaging.dicom.deid import PROFILE_VERSION, DeidResult, deidentify
from imaging.dicom.validation import is_valid_uid

KEY = b"test-key-not-a-secret-0123456789"
CANARY = "PHICANARY"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1001"
SERIES_UID = "1.2.826.0.1.3680043.8.498.1002"
FRAME_OF_REFERENCE_UID = "1.2.826.0.1.3680043.8.498.1003"
REFERENCED_SOP_UID = "1.2.826.0.1.3680043.8.498.1099"

# PHI-capable public attributes that each get a unique canary string.
_CANARY_TEXT = [
    "IssuerOfPatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "PatientBirthName",
    "MedicalRecordLocator",
    "PatientComments",
    "AdditionalPatientHistory",
    "Occupation",
    "Allergies",
    "MedicalAlerts",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "RequestingPhysician",
    "AccessionNumber",
    "StudyID",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "ImageComments",
    "DeviceSerialNumber",
    "RequestedProcedureDescription",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "AdmissionID",
    "DerivationDescription",
    "ContrastBolusAgent",
    "AcquisitionDeviceProcessingDescription",
    "RequestedProcedureID",
    "PatientState",
    "CountryOfResidence",
    "RegionOfResidence",
    "MilitaryRank",
    "BranchOfService",
    "PatientReligiousPreference",
    "ResponsibleOrganization",
    "ResponsiblePerson",
    "StationAETitle",
    "DetectorID",
    "GantryID",
    "GeneratorID",
]


def make_ct(
    *,
    patient_id: str = "PHICANARY-PID-0001",
    sop_uid: str = "1.2.826.0.1.3680043.8.498.1010",
    study_uid: str = STUDY_UID,
    study_date: str = "20200115",
) -> Dataset:
    """A 4x4 CT image with a canary in every PHI-capable attribute, private block included."""
    ds = Dataset()
    ds.file_meta = _file_meta(sop_uid)
    _add_identity(ds, patient_id)
    _add_study(ds, sop_uid=sop_uid, study_uid=study_uid, study_date=study_date)
    _add_image(ds)
    for number, keyword in enumerate(_CANARY_TEXT):
        setattr(ds, keyword, f"{CANARY}-{number:02d}")
    _add_phi_sequences(ds)
    _add_private_and_graphics(ds)
    return ds


def _file_meta(sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "PHICANARY-AE"
    meta.PrivateInformationCreatorUID = "1.2.826.0.1.3680043.8.498.9"
    meta.PrivateInformation = b"PHICANARY-meta"
    return meta


def _add_identity(ds: Dataset, patient_id: str) -> None:
    ds.PatientName = "PHICANARY^Name"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19570304"
    ds.PatientBirthTime = "101010"
    ds.PatientAge = "063Y"
    ds.PatientSex = "F"
    ds.PatientSize = 1.62
    ds.PatientWeight = 58.5
    ds.SmokingStatus = "NO"
    ds.PregnancyStatus = 4


def _add_study(ds: Dataset, *, sop_uid: str, study_uid: str, study_date: str) -> None:
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = SERIES_UID
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    ds.StudyDate = study_date
    ds.SeriesDate = study_date
    ds.AcquisitionDate = _plus_days(study_date, 1)
    ds.ContentDate = _plus_days(study_date, 1)
    ds.StudyTime = "101500"
    ds.AcquisitionTime = "102030.500"
    ds.AcquisitionDateTime = _plus_days(study_date, 1) + "102030.500000+0100"
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.KVP = 120
    reference = Dataset()
    reference.ReferencedSOPClassUID = CTImageStorage
    reference.ReferencedSOPInstanceUID = REFERENCED_SOP_UID
    ds.ReferencedImageSequence = Sequence([reference])


def _add_image(ds: Dataset) -> None:
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.PixelData = np.arange(-8, 8, dtype=np.int16).reshape(4, 4).tobytes()


def _add_phi_sequences(ds: Dataset) -> None:
    other_id = Dataset()
    other_id.PatientID = "PHICANARY-OTHER-ID"
    other_id.IssuerOfPatientID = "PHICANARY-OTHER-ISSUER"
    ds.OtherPatientIDsSequence = Sequence([other_id])
    request = Dataset()
    request.RequestedProcedureID = "PHICANARY-REQ-ID"
    request.ScheduledProcedureStepID = "PHICANARY-SPS-ID"
    request.ScheduledProcedureStepDescription = "PHICANARY-SPS-DESC"
    request.AccessionNumber = "PHICANARY-RQACC"
    ds.RequestAttributesSequence = Sequence([request])
    operator = Dataset()
    operator.PersonName = "PHICANARY^Operator"
    ds.OperatorIdentificationSequence = Sequence([operator])
    code = Dataset()
    code.CodeValue = "PHICANARY-CV"
    code.CodingSchemeDesignator = "L"
    code.CodeMeaning = "PHICANARY-institution code"
    ds.InstitutionCodeSequence = Sequence([code])
    # An unlisted sequence: kept, but the profile must still apply inside its items.
    procedure = Dataset()
    procedure.CodeValue = "CTABD"
    procedure.CodingSchemeDesignator = "L"
    procedure.CodeMeaning = "CT abdomen"
    procedure.ContentCreatorName = "PHICANARY^Nested"
    ds.ProcedureCodeSequence = Sequence([procedure])


def _add_private_and_graphics(ds: Dataset) -> None:
    block = ds.private_block(0x0009, "PHICANARY CREATOR", create=True)
    block.add_new(0x01, "LO", "PHICANARY-private-text")
    nested = Dataset()
    nested.PatientName = "PHICANARY^Private^Seq"
    nested.add_new(0x00191001, "LO", "PHICANARY-private-nested")
    block.add_new(0x02, "SQ", Sequence([nested]))
    ds.add_new(0x60003000, "OW", b"PHICANARY-overlay")
    ds.add_new(0x60004000, "LT", "PHICANARY-overlay-comment")
    ds.add_new(0x50002500, "LO", "PHICANARY-curve")


def _plus_days(yyyymmdd: str, days: int) -> str:
    value = date.fromordinal(_parse_da(yyyymmdd).toordinal() + days)
    return value.strftime("%Y%m%d")


def _parse_da(value: str) -> date:
    return date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def parsed(ds: Dataset) -> Dataset:
    return pydicom.dcmread(io.BytesIO(to_bytes(ds)))


def run(ds: Dataset, project: str = "project-a") -> DeidResult:
    return deidentify(ds, project_key=project, key=KEY)


def all_values(ds: Dataset) -> list[tuple[int, str]]:
    """(tag, str(value)) for every element, sequences and file meta included."""
    found = [(int(elem.tag), repr(elem.value)) for elem in ds.iterall()]
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        found += [(int(elem.tag), repr(elem.value)) for elem in meta.iterall()]
    return found


@pytest.fixture
def source() -> Dataset:
    # Parsed from bytes so the input is a real FileDataset with raw, unconverted values;
    # its preamble is outside the data set yet written to disk, so it gets a canary too.
    ds = parsed(make_ct())
    ds.preamble = b"PHICANARY-preamble".ljust(128, b"\0")
    return ds


def test_fixture_really_carries_canaries(source: Dataset) -> None:
    leaked = [tag for tag, value in all_values(source) if CANARY in value]
    assert len(leaked) > len(_CANARY_TEXT)
    assert any(tag >> 16 == 0x0009 for tag in leaked)


def test_no_canary_in_any_element_or_file_meta(source: Dataset) -> None:
    out = run(source).dataset
    leaked = [f"{tag:08X}" for tag, value in all_values(out) if CANARY in value]
    assert leaked == []


def test_no_canary_or_original_uid_in_serialized_bytes(source: Dataset) -> None:
    data = to_bytes(run(source).dataset)
    assert CANARY.encode() not in data
    for original in (STUDY_UID, SERIES_UID, FRAME_OF_REFERENCE_UID, REFERENCED_SOP_UID):
        assert original.encode() not in data


def test_private_tags_overlays_and_curves_removed(source: Dataset) -> None:
    out = run(source).dataset
    tags = [int(elem.tag) for elem in out.iterall()]
    assert not [tag for tag in tags if (tag >> 16) % 2 == 1]
    assert not [tag for tag in tags if (tag >> 24) in (0x50, 0x60)]
    assert "PrivateInformation" not in out.file_meta
    assert "SourceApplicationEntityTitle" not in out.file_meta


def test_phi_sequences_removed_and_unlisted_sequences_cleaned(source: Dataset) -> None:
    out = run(source).dataset
    for keyword in (
        "OtherPatientIDsSequence",
        "RequestAttributesSequence",
        "OperatorIdentificationSequence",
        "InstitutionCodeSequence",
    ):
        assert keyword not in out, keyword
    procedure = out.ProcedureCodeSequence[0]
    assert procedure.CodeMeaning == "CT abdomen"
    assert not procedure.ContentCreatorName


def test_patient_characteristics_retained(source: Dataset) -> None:
    out = run(source).dataset
    assert out.PatientAge == "063Y"
    assert out.PatientSex == "F"
    assert float(out.PatientSize) == pytest.approx(1.62)
    assert float(out.PatientWeight) == pytest.approx(58.5)
    assert out.SmokingStatus == "NO"
    assert out.PregnancyStatus == 4
    # Characteristics the option only lets through cleaned are removed.
    assert "Allergies" not in out
    assert "MedicalAlerts" not in out


def test_non_phi_technical_attributes_and_pixels_kept(source: Dataset) -> None:
    out = parsed(run(source).dataset)
    assert out.Modality == "CT"
    assert out.Manufacturer == "ACME"
    assert out.SOPClassUID == CTImageStorage
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(out.pixel_array, source.pixel_array)


def test_birth_date_emptied_and_identity_replaced(source: Dataset) -> None:
    result = run(source)
    out = result.dataset
    assert not out.get("PatientBirthDate")
    assert "PatientBirthTime" not in out
    assert "IssuerOfPatientID" not in out
    assert re.fullmatch(r"P-[A-Z2-7]{20}", result.pseudonym)
    assert out.PatientID == result.pseudonym
    assert str(out.PatientName) == result.pseudonym


def test_dates_shifted_with_intervals_and_times_kept(source: Dataset) -> None:
    out = run(source).dataset
    study = _parse_da(out.StudyDate)
    shift = (study - _parse_da(source.StudyDate)).days
    assert -3650 <= shift <= -365
    assert _parse_da(out.SeriesDate) == study
    assert (_parse_da(out.AcquisitionDate) - study).days == 1
    assert (_parse_da(out.ContentDate) - study).days == 1
    assert out.AcquisitionDateTime == out.AcquisitionDate + "102030.500000+0100"
    assert out.StudyTime == "101500"
    assert out.AcquisitionTime == "102030.500"


def test_same_patient_same_shift_across_studies() -> None:
    first = make_ct(study_date="20200115")
    second = make_ct(
        sop_uid="1.2.826.0.1.3680043.8.498.2010",
        study_uid="1.2.826.0.1.3680043.8.498.2001",
        study_date="20210301",
    )
    out_first, out_second = run(first).dataset, run(second).dataset
    original_gap = _parse_da("20210301") - _parse_da("20200115")
    assert _parse_da(out_second.StudyDate) - _parse_da(out_first.StudyDate) == original_gap


def test_different_patients_get_different_shifts() -> None:
    shifts = set()
    for number in range(4):
        ds = make_ct(patient_id=f"PHICANARY-PID-{number}")
        shifts.add((_parse_da(run(ds).dataset.StudyDate) - _parse_da(ds.StudyDate)).days)
    assert len(shifts) > 1


def test_pseudonym_stable_in_project_and_distinct_across_projects() -> None:
    first = run(make_ct()).pseudonym
    assert run(make_ct(sop_uid="1.2.826.0.1.3680043.8.498.3010")).pseudonym == first
    assert run(make_ct(), project="project-b").pseudonym != first
    assert run(make_ct(patient_id="PHICANARY-PID-0002")).pseudonym != first
    assert deidentify(make_ct(), project_key="project-a", key=b"other-key").pseudonym != first


def test_issuer_of_patient_id_separates_patients() -> None:
    first, second = make_ct(), make_ct()
    second.IssuerOfPatientID = "OTHER-HOSPITAL"
    assert run(first).pseudonym != run(second).pseudonym


def test_uids_valid_deterministic_and_project_scoped(source: Dataset) -> None:
    first, again = run(source), run(parsed(make_ct()))
    assert dict(first.uid_map) == dict(again.uid_map)
    other = run(source, project="project-b")
    for original, new in first.uid_map.items():
        assert is_valid_uid(new) and new.startswith("2.25."), new
        assert new != original
        assert other.uid_map[original] != new
    out = first.dataset
    assert out.StudyInstanceUID == first.uid_map[STUDY_UID]
    assert out.SeriesInstanceUID == first.uid_map[SERIES_UID]


def test_references_remapped_consistently(source: Dataset) -> None:
    result = run(source)
    out = result.dataset
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPClassUID == CTImageStorage
    reference = out.ReferencedImageSequence[0]
    assert reference.ReferencedSOPClassUID == CTImageStorage
    assert reference.ReferencedSOPInstanceUID == result.uid_map[REFERENCED_SOP_UID]
    # The referenced image, de-identified on its own, gets exactly that UID.
    target = run(make_ct(sop_uid=REFERENCED_SOP_UID)).dataset
    assert target.SOPInstanceUID == reference.ReferencedSOPInstanceUID
    assert target.FrameOfReferenceUID == out.FrameOfReferenceUID


def test_identity_removed_markers(source: Dataset) -> None:
    out = parsed(run(source).dataset)
    assert out.PatientIdentityRemoved == "YES"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    methods = list(out.DeidentificationMethod)
    assert any(PROFILE_VERSION in method for method in methods)
    assert all(len(method) <= 64 for method in methods)
    codes = {
        (item.CodeValue, item.CodingSchemeDesignator)
        for item in out.DeidentificationMethodCodeSequence
    }
    assert codes == {("113100", "DCM"), ("113108", "DCM"), ("113107", "DCM")}


def test_input_not_mutated(source: Dataset) -> None:
    before = to_bytes(source)
    run(source)
    assert to_bytes(source) == before


def test_dataset_without_meta_or_patient_id_gets_per_study_pseudonym() -> None:
    first, second = make_ct(), make_ct(study_uid="1.2.826.0.1.3680043.8.498.4001")
    for ds in (first, second):
        del ds.file_meta
        del ds.PatientID
    result = run(first)
    assert result.dataset.PatientID == result.pseudonym
    assert result.dataset.file_meta.MediaStorageSOPInstanceUID == result.dataset.SOPInstanceUID
    assert run(first).pseudonym == result.pseudonym
    assert run(second).pseudonym != result.pseudonym


def test_key_and_project_required(source: Dataset) -> None:
    with pytest.raises(ValueError):
        deidentify(source, project_key="project-a", key=b"")
    with pytest.raises(ValueError):
        deidentify(source, project_key="", key=KEY)


def test_profile_data_is_versioned_and_covers_core_rows() -> None:
    profile = deid_profile.BASIC_PROFILE
    assert deid_profile.PROFILE_VERSION == PROFILE_VERSION
    assert len(profile) > 500
    expected = {
        "PatientName": "Z",
        "PatientID": "Z",
        "PatientBirthDate": "Z",
        "AccessionNumber": "Z",
        "InstitutionName": "X/Z/D",
        "SOPInstanceUID": "U",
        "FrameOfReferenceUID": "U",
        "ReferencedImageSequence": "X/Z/U*",
        "OtherPatientIDsSequence": "X",
        "RequestAttributesSequence": "X",
        "PatientAge": "X",
        "ContentSequence": "X",
    }
    assert {keyword: profile[keyword] for keyword in expected} == expected


def _fresh_source() -> Dataset:
    ds = parsed(make_ct())
    ds.preamble = b"PHICANARY-preamble".ljust(128, b"\0")
    return ds


def test_in_place_gives_the_same_result_as_a_copy() -> None:
    """Ingest de-identifies in place (no deep copy): the result must be exactly
    what the copying mode gives, element for element, file meta included."""
    copied = run(_fresh_source())
    source = _fresh_source()
    in_place = deidentify(source, project_key="project-a", key=KEY, in_place=True)
    assert all_values(in_place.dataset) == all_values(copied.dataset)
    assert to_bytes(in_place.dataset) == to_bytes(copied.dataset)
    assert (in_place.pseudonym, dict(in_place.uid_map)) == (copied.pseudonym, dict(copied.uid_map))
    out = in_place.dataset
    assert out.PatientID == in_place.pseudonym
    assert out.StudyInstanceUID == in_place.uid_map[STUDY_UID]
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID  # not remapped twice
    assert not [tag for tag, value in all_values(out) if CANARY in value]


def test_unchanged_lists_only_elements_kept_as_they_came() -> None:
    source = _fresh_source()
    source.PatientIdentityRemoved = "NO"  # kept by the profile, then overwritten
    result = deidentify(source, project_key="project-a", key=KEY, in_place=True)
    unchanged = result.unchanged
    assert int(Tag("Modality")) in unchanged and int(Tag("PixelData")) in unchanged
    changed = ("PatientIdentityRemoved", "PatientID", "StudyInstanceUID", "StudyDate")
    assert not {int(Tag(keyword)) for keyword in changed} & unchanged
    assert result.dataset.PatientIdentityRemoved == "YES"

"""Write synthetic identities and volumes as DICOM Part-10 files.

The writer only reads `CTVolume` (HU, spacing, z positions), so richer phantoms
need no change here. Objects carry what real scanners write, including every
PHI-capable attribute filled with a canary (see `identity`), nested and private
ones included, so de-identification can be tested against them. UIDs derive from
the identities, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    XRayRadiationDoseSRStorage,
)
from pydicom.valuerep import DS

from ml_worker.synthetic.identity import SyntheticPatient, SyntheticStudy, canary, make_study
from ml_worker.synthetic.volume import HU_MAX, CTVolume

# Short names used by the CLI; JPEG Lossless Process 14 is absent because
# pydicom has no encoder for it.
TRANSFER_SYNTAXES: dict[str, UID] = {
    "explicit": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg2000": JPEG2000Lossless,
    "jpegls": JPEGLSLossless,
}
_ENCAPSULATED = frozenset({RLELossless, JPEG2000Lossless, JPEGLSLossless})

RESCALE_INTERCEPT = -1024
PRIVATE_GROUP = 0x0029
PRIVATE_CREATOR = "SYNTH PRIVATE"
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.1"  # pydicom's root, stable across runs
MANUFACTURER = "SYNTHETIC CT"
MODEL_NAME = "SynthScan 64"
SOFTWARE_VERSION = "ml_worker.synthetic 1"

# Top-level text attributes that hold a canary in every object written here.
PHI_TEXT_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientAddress", "PatientTelephoneNumbers", "EthnicGroup",
    "Occupation", "PatientComments", "AdditionalPatientHistory", "AccessionNumber", "StudyID",
    "StudyDescription", "SeriesDescription", "ProtocolName", "ReferringPhysicianName",
    "RequestingPhysician", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
    "PerformingPhysicianName", "OperatorsName", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber",
)  # fmt: skip
# Real dates and times: de-identification must remove or shift them.
PHI_DATE_KEYWORDS: tuple[str, ...] = (
    "PatientBirthDate", "StudyDate", "StudyTime", "SeriesDate", "SeriesTime",
    "ContentDate", "ContentTime", "InstanceCreationDate", "InstanceCreationTime",
)  # fmt: skip


@dataclass(frozen=True)
class _Series:
    """Identity shared by every instance of one series."""

    patient: SyntheticPatient
    study: SyntheticStudy
    study_uid: str
    series_uid: str
    series_number: int
    modality: str

    @property
    def start(self) -> datetime:
        # Later series start later, as on a scanner, but within the hour of the study.
        scan = datetime.combine(self.study.study_date, self.study.study_time)
        return scan + timedelta(minutes=2 * min(self.series_number, 30))


def resolve_transfer_syntax(name_or_uid: str) -> UID:
    """Map a CLI short name or a UID to a supported transfer syntax UID."""
    if name_or_uid in TRANSFER_SYNTAXES:
        return TRANSFER_SYNTAXES[name_or_uid]
    if name_or_uid not in TRANSFER_SYNTAXES.values():
        raise ValueError(f"unsupported transfer syntax {name_or_uid!r}")
    return UID(name_or_uid)


def write_ct_series(
    volume: CTVolume,
    out_dir: Path | str,
    *,
    patient: SyntheticPatient,
    study: SyntheticStudy | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    series_number: int = 1,
    pixel_representation: int = 0,
    burned_in_annotation: bool = False,
    body_part: str = "ABDOMEN",
) -> list[Path]:
    """Write one CT Image Storage file per slice; returns paths in slice order.

    `pixel_representation` 0 stores unsigned 12-bit values, 1 signed 16-bit; both
    use intercept -1024. `burned_in_annotation` marks the images "YES" and paints
    text-like stripes into the top-left corner, as a scanner overlay would.
    """
    ts = resolve_transfer_syntax(transfer_syntax)
    series = _make_series(patient, study, study_uid, series_uid, series_number, "CT")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for index in range(volume.shape[0]):
        hu = volume.hu[index]
        if burned_in_annotation:
            hu = _burn_in_text(hu, value=HU_MAX)
        stored = _stored_pixels(hu, pixel_representation)
        ds = _base_dataset(series, CTImageStorage, instance_number=index + 1)
        _add_ct_image(ds, series, volume, index, body_part=body_part)
        _add_ct_pixel_module(ds, stored, pixel_representation)
        ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
        _set_pixel_data(ds, stored, ts)
        paths.append(_save(ds, out / f"IM{index + 1:04d}.dcm"))
    return paths


def write_secondary_capture(
    out_dir: Path | str,
    *,
    patient: SyntheticPatient,
    study: SyntheticStudy | None = None,
    study_uid: str | None = None,
    series_number: int = 900,
    image: np.ndarray | None = None,
) -> Path:
    """A screenshot-like Secondary Capture (8-bit, burned-in text): must be rejected."""
    series = _make_series(patient, study, study_uid, None, series_number, "OT")
    pixels = _default_capture() if image is None else np.asarray(image, dtype=np.uint8)
    ds = _base_dataset(series, SecondaryCaptureImageStorage, instance_number=1)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.ImageComments = canary("ImageComments", series.study.index)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _save(ds, out / "SC0001.dcm")


def write_dose_report(
    out_dir: Path | str,
    *,
    patient: SyntheticPatient,
    study: SyntheticStudy | None = None,
    study_uid: str | None = None,
    series_number: int = 999,
    dlp_mgy_cm: float = 450.0,
) -> Path:
    """An X-Ray Radiation Dose SR (TID 10011 outline) with canaries in its content."""
    series = _make_series(patient, study, study_uid, None, series_number, "SR")
    ds = _base_dataset(series, XRayRadiationDoseSRStorage, instance_number=1)
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code("113701", "DCM", "X-Ray Radiation Dose Report")]
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "10011"
    ds.ContentTemplateSequence = [template]
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = []
    ds.ContentSequence = _dose_content(series, dlp_mgy_cm)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _save(ds, out / "SR0001.dcm")


def default_study_uid(patient: SyntheticPatient, study: SyntheticStudy) -> UID:
    return _uid("study", patient.patient_id, study.accession_number)


def _uid(*parts: object) -> UID:
    # A 2.25 UID from a hash of the parts: reruns give identical files, and
    # pydicom's generate_uid(prefix=None) would ignore any entropy and be random.
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()
    return UID(f"2.25.{int.from_bytes(digest[:16], 'big')}")


def _make_series(
    patient: SyntheticPatient,
    study: SyntheticStudy | None,
    study_uid: str | None,
    series_uid: str | None,
    series_number: int,
    modality: str,
) -> _Series:
    study = study or make_study(patient)
    study_uid = study_uid or default_study_uid(patient, study)
    series_uid = series_uid or _uid("series", study_uid, series_number, modality)
    return _Series(patient, study, study_uid, series_uid, series_number, modality)


def _base_dataset(series: _Series, sop_class: UID, *, instance_number: int) -> Dataset:
    """SOP common, patient, study, series, equipment, request and private data."""
    sop_uid = _uid("instance", series.series_uid, instance_number)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = "SYNTH_CT_1"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate, ds.InstanceCreationTime = _date_time(series.start)
    _add_patient(ds, series.patient, series.study)
    _add_study(ds, series)
    _add_series(ds, series)
    _add_equipment(ds, series.study)
    _add_private(ds, series.patient)
    ds.InstanceNumber = instance_number
    ds.ContentDate, ds.ContentTime = _date_time(series.start)
    return ds


def _add_patient(ds: Dataset, patient: SyntheticPatient, study: SyntheticStudy) -> None:
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.IssuerOfPatientID = patient.issuer_of_patient_id
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    ds.PatientSex = patient.sex
    ds.PatientAge = f"{patient.age_years:03d}Y"
    ds.PatientSize = f"{patient.height_m:.2f}"
    ds.PatientWeight = f"{patient.weight_kg:.1f}"
    ds.PatientAddress = patient.address
    ds.PatientTelephoneNumbers = patient.telephone
    ds.PatientBirthName = patient.birth_name
    ds.PatientMotherBirthName = patient.mother_birth_name
    ds.OtherPatientNames = patient.other_names
    ds.EthnicGroup = patient.ethnic_group
    ds.Occupation = patient.occupation
    ds.PatientComments = patient.comments
    ds.AdditionalPatientHistory = study.additional_patient_history
    ds.OtherPatientIDsSequence = [_other_id(other, patient) for other in patient.other_patient_ids]


def _other_id(patient_id: str, patient: SyntheticPatient) -> Dataset:
    item = Dataset()
    item.PatientID = patient_id
    item.IssuerOfPatientID = patient.issuer_of_patient_id
    item.TypeOfPatientID = "TEXT"
    return item


def _add_study(ds: Dataset, series: _Series) -> None:
    study = series.study
    ds.StudyInstanceUID = series.study_uid
    ds.StudyDate = study.study_date.strftime("%Y%m%d")
    ds.StudyTime = study.study_time.strftime("%H%M%S")
    ds.AccessionNumber = study.accession_number
    ds.StudyID = study.study_id
    ds.StudyDescription = study.study_description
    ds.ReferringPhysicianName = study.referring_physician
    ds.RequestingPhysician = study.requesting_physician
    ds.PhysiciansOfRecord = study.physician_of_record
    ds.NameOfPhysiciansReadingStudy = study.reading_physician
    reference = Dataset()
    reference.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management
    reference.ReferencedSOPInstanceUID = _uid("referenced-study", series.study_uid)
    ds.ReferencedStudySequence = [reference]


def _add_series(ds: Dataset, series: _Series) -> None:
    study = series.study
    ds.Modality = series.modality
    ds.SeriesInstanceUID = series.series_uid
    ds.SeriesNumber = series.series_number
    ds.SeriesDate, ds.SeriesTime = _date_time(series.start)
    ds.SeriesDescription = study.series_description
    ds.ProtocolName = study.protocol_name
    ds.PerformingPhysicianName = study.performing_physician
    ds.OperatorsName = study.operator_name
    request = Dataset()
    request.AccessionNumber = study.accession_number
    request.StudyInstanceUID = series.study_uid
    request.RequestedProcedureID = study.requested_procedure_id
    request.RequestedProcedureDescription = study.requested_procedure_description
    request.ScheduledProcedureStepID = study.scheduled_step_id
    request.ScheduledProcedureStepDescription = study.scheduled_step_description
    ds.RequestAttributesSequence = [request]


def _add_equipment(ds: Dataset, study: SyntheticStudy) -> None:
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MODEL_NAME
    ds.SoftwareVersions = SOFTWARE_VERSION
    ds.DeviceSerialNumber = study.device_serial_number
    ds.InstitutionName = study.institution_name
    ds.InstitutionAddress = study.institution_address
    ds.InstitutionalDepartmentName = study.department_name
    ds.StationName = study.station_name


def _add_private(ds: Dataset, patient: SyntheticPatient) -> None:
    """Vendor-style private block: de-identification must drop or clean it."""
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", canary("PrivatePatientName", patient.index))
    block.add_new(0x11, "LO", canary("PrivatePatientID", patient.index))
    block.add_new(0x12, "LT", canary("PrivateNote", patient.index))
    item = Dataset()
    item.PatientName = canary("PrivateSequenceName", patient.index)
    item.PatientID = canary("PrivateSequenceID", patient.index)
    block.add_new(0x13, "SQ", Sequence([item]))


def _add_ct_image(
    ds: Dataset, series: _Series, volume: CTVolume, index: int, *, body_part: str
) -> None:
    """CT image, image plane and acquisition attributes for slice `index`."""
    rows, cols = volume.shape[1:]
    row_mm, col_mm = volume.pixel_spacing_mm
    z = float(volume.slice_positions_mm[index])
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImageComments = canary("ImageComments", series.study.index)
    ds.FrameOfReferenceUID = _uid("frame-of-reference", series.series_uid)
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    ds.BodyPartExamined = body_part
    # Pixel (0, 0) centre sits so the field of view is centred on the table axis.
    x0, y0 = -(cols - 1) / 2 * col_mm, -(rows - 1) / 2 * row_mm
    ds.ImagePositionPatient = [_ds(x0), _ds(y0), _ds(z)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [_ds(row_mm), _ds(col_mm)]
    ds.SliceThickness = _ds(volume.slice_thickness_mm)
    ds.SliceLocation = _ds(z)
    ds.ReconstructionDiameter = _ds(cols * col_mm)
    ds.DataCollectionDiameter = "500"
    ds.KVP = "120"
    ds.XRayTubeCurrent = 250
    ds.ExposureTime = 500
    ds.Exposure = 125
    ds.ConvolutionKernel = "STANDARD"
    ds.FilterType = "BODY FILTER"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "150"
    ds.RotationDirection = "CW"
    ds.AcquisitionNumber = 1
    acquired = series.start + timedelta(seconds=0.5 * index)
    ds.AcquisitionDate, ds.AcquisitionTime = _date_time(acquired)
    ds.AcquisitionDateTime = acquired.strftime("%Y%m%d%H%M%S.%f")
    ds.ContentDate, ds.ContentTime = _date_time(acquired)


def _add_ct_pixel_module(ds: Dataset, stored: np.ndarray, pixel_representation: int) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12 if pixel_representation == 0 else 16
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = pixel_representation
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = ["40", "-600"]
    ds.WindowWidth = ["400", "1500"]
    ds.WindowCenterWidthExplanation = ["ABDOMEN", "LUNG"]
    ds.LossyImageCompression = "00"


def _stored_pixels(hu: np.ndarray, pixel_representation: int) -> np.ndarray:
    """HU to stored values (HU = stored + intercept), refusing values that wrap."""
    if pixel_representation not in (0, 1):
        raise ValueError("pixel_representation must be 0 (unsigned) or 1 (signed)")
    stored = hu.astype(np.int32) - RESCALE_INTERCEPT
    low, high, dtype = (
        (0, 4095, np.uint16) if pixel_representation == 0 else (-32768, 32767, np.int16)
    )
    if stored.min() < low or stored.max() > high:
        raise ValueError(f"HU outside the range stored values {low}..{high} can represent")
    return stored.astype(dtype)


def _set_pixel_data(ds: Dataset, stored: np.ndarray, ts: UID) -> None:
    if ts in _ENCAPSULATED:
        # Keep our deterministic SOP Instance UID; pydicom would mint a new one.
        ds.compress(ts, arr=stored, generate_instance_uid=False)
        return
    ds.file_meta.TransferSyntaxUID = ts
    ds.PixelData = stored.tobytes()


def _burn_in_text(hu: np.ndarray, *, value: int) -> np.ndarray:
    """Text-like vertical stripes in the top-left corner, like a scanner overlay."""
    out = hu.copy()
    rows, cols = hu.shape
    height, width = max(rows // 16, 2), max(cols // 4, 4)
    out[2 : 2 + height, 2 : 2 + width : 2] = value
    return out


def _default_capture() -> np.ndarray:
    image = np.tile((np.arange(64) * 4).astype(np.uint8), (64, 1))
    return _burn_in_text(image, value=255)


def _dose_content(series: _Series, dlp_mgy_cm: float) -> list[Dataset]:
    procedure = _item("HAS CONCEPT MOD", "CODE", _code("121058", "DCM", "Procedure reported"))
    procedure.ConceptCodeSequence = [_code("77477000", "SCT", "Computed Tomography X-Ray")]
    observer = _item("HAS OBS CONTEXT", "PNAME", _code("121008", "DCM", "Person Observer Name"))
    observer.PersonName = series.study.observer_name
    accumulated = _item("CONTAINS", "CONTAINER", _code("113811", "DCM", "CT Accumulated Dose Data"))
    accumulated.ContinuityOfContent = "SEPARATE"
    accumulated.ContentSequence = [
        _num("113812", "Total Number of Irradiation Events", 1, ("{events}", "events")),
        _num("113813", "CT Dose Length Product Total", dlp_mgy_cm, ("mGy.cm", "mGy.cm")),
    ]
    comment = _item("CONTAINS", "TEXT", _code("121106", "DCM", "Comment"))
    comment.TextValue = canary("DoseReportComment", series.patient.index)
    return [procedure, observer, accumulated, comment]


def _num(code: str, meaning: str, value: float, unit: tuple[str, str]) -> Dataset:
    item = _item("CONTAINS", "NUM", _code(code, "DCM", meaning))
    measured = Dataset()
    measured.NumericValue = _ds(value)
    measured.MeasurementUnitsCodeSequence = [_code(unit[0], "UCUM", unit[1])]
    item.MeasuredValueSequence = [measured]
    return item


def _item(relationship: str, value_type: str, concept: Dataset) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [concept]
    return item


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = scheme
    code.CodeMeaning = meaning
    return code


def _date_time(moment: datetime) -> tuple[str, str]:
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f")


def _ds(value: float) -> DS:
    # auto_format keeps full precision within the 16-character DS limit.
    return DS(value, auto_format=True)


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path

"""DICOM attribute modules of the synthetic writer: the identity a series'
instances share (`_Series`), hash-derived UIDs, and the SOP common, patient,
study, series, equipment, private and CT image/acquisition attributes, with
every PHI-capable one filled from the canary identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID
from pydicom.valuerep import DS

from ml_worker.synthetic.identity import SyntheticPatient, SyntheticStudy, canary
from ml_worker.synthetic.volume import CTVolume

PRIVATE_GROUP = 0x0029
PRIVATE_CREATOR = "SYNTH PRIVATE"
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.1"  # pydicom's root, stable across runs
MANUFACTURER = "SYNTHETIC CT"
MODEL_NAME = "SynthScan 64"
SOFTWARE_VERSION = "ml_worker.synthetic 1"


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


def _uid(*parts: object) -> UID:
    # A 2.25 UID from a hash of the parts: reruns give identical files, and
    # pydicom's generate_uid(prefix=None) would ignore any entropy and be random.
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()
    return UID(f"2.25.{int.from_bytes(digest[:16], 'big')}")


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


def _date_time(moment: datetime) -> tuple[str, str]:
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f")


def _ds(value: float) -> DS:
    # auto_format keeps full precision within the 16-character DS limit.
    return DS(value, auto_format=True)

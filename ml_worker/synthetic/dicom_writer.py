"""Write synthetic identities and volumes as DICOM Part-10 files.

The writer only reads `CTVolume` (HU, spacing, z positions), so richer phantoms
need no change here. Objects carry what real scanners write, including every
PHI-capable attribute filled with a canary (see `identity`), nested and private
ones included, so de-identification can be tested against them. UIDs derive from
the identities, so the same inputs give byte-identical files.

This module holds the public writers; the attribute modules live in
`dicom_attributes`, pixel encoding in `dicom_pixels` and the dose SR content in
`dicom_dose_report`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
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

from ml_worker.synthetic.dicom_attributes import (
    IMPLEMENTATION_CLASS_UID,
    MANUFACTURER,
    MODEL_NAME,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    SOFTWARE_VERSION,
    _add_ct_image,
    _base_dataset,
    _Series,
    _uid,
)
from ml_worker.synthetic.dicom_dose_report import _code, _dose_content
from ml_worker.synthetic.dicom_pixels import (
    RESCALE_INTERCEPT,
    _add_ct_pixel_module,
    _burn_in_text,
    _default_capture,
    _set_pixel_data,
    _stored_pixels,
)
from ml_worker.synthetic.identity import SyntheticPatient, SyntheticStudy, canary, make_study
from ml_worker.synthetic.volume import HU_MAX, CTVolume

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "MANUFACTURER",
    "MODEL_NAME",
    "PHI_DATE_KEYWORDS",
    "PHI_TEXT_KEYWORDS",
    "PRIVATE_CREATOR",
    "PRIVATE_GROUP",
    "RESCALE_INTERCEPT",
    "SOFTWARE_VERSION",
    "TRANSFER_SYNTAXES",
    "default_study_uid",
    "resolve_transfer_syntax",
    "write_ct_series",
    "write_dose_report",
    "write_secondary_capture",
]


# Short names used by the CLI; JPEG Lossless Process 14 is absent because
# pydicom has no encoder for it.
TRANSFER_SYNTAXES: dict[str, UID] = {
    "explicit": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg2000": JPEG2000Lossless,
    "jpegls": JPEGLSLossless,
}


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


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path

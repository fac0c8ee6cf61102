"""Spine levels of one CT series as a DICOM Structured Report.

The platform hands levels to other DICOM tools as a Comprehensive SR holding a
TID 1500 Measurement Report, built with highdicom and stored next to the images
over STOW-RS by the caller. Per decoded level range, one TID 1501 Measurement
Group carries:

- Tracking Identifier: the level name ("L3", also "T13"/"L6"), with a UID that
  is stable per (series, level) so other tools can track a level across reports;
- Finding Site: the vertebra as a SNOMED CT code;
- Source of Measurement: exactly three image references, in the order first,
  middle (representative), last slice of the range (TID 1501 content order is
  significant, and the Image Library gives each image's position);
- Certainty of Finding (DCM 111012): the range confidence, 0-1, unit UCUM "1";
- Algorithm Identification (TID 4019): model name and version.

The observer is the model as a device (TID 1004). Series-level flags (reversed,
gaps, transitional anatomy) are TEXT items in the report's Qualitative
Evaluations container (TID 1500 row 12), "<code>: <message>".

Patient and study attributes come from an allow-list (`PATIENT_STUDY_KEYWORDS`),
not from whole source modules: the SR copies the identity the images carry
after de-identification and nothing else (no equipment, institution, request or
private data)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TypedDict

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import UID, generate_uid

# Root container of the flags, TID 1500 row 12; pydicom's code dictionary lacks it.
QUALITATIVE_EVALUATIONS = hd.sr.CodedConcept("C0034375", "UMLS", "Qualitative Evaluations")
CONFIDENCE = codes.DCM.CertaintyOfFinding  # 111012, "Certainty of Finding"
FLAG = codes.DCM.Comment  # 121106
_FLAG_SEPARATOR = ": "

# SNOMED CT sites per level. T1-L5, the cervical spine and the sacrum come from
# pydicom's code dictionary (DICOM PS3.16 / SNOMED CT). SNOMED CT has no
# whole-vertebra concept for the transitional levels that we could verify:
# T13 uses "Structure of body of thirteenth thoracic vertebra" (1186895000,
# SNOMED CT International edition 2025-02, as expanded in the HL7 Europe eHDSI
# Body Site value set 8.1.0); L6, with no SNOMED CT concept at all, is coded as
# the lumbar spine it belongs to, and its name lives in the Tracking Identifier.
LEVEL_SITES: dict[str, Code] = {
    "Cervical": codes.SCT.CervicalSpine,
    **{f"T{i}": getattr(codes.SCT, f"T{i}Vertebra") for i in range(1, 13)},
    "T13": Code("1186895000", "SCT", "Structure of body of thirteenth thoracic vertebra"),
    **{f"L{i}": getattr(codes.SCT, f"L{i}Vertebra") for i in range(1, 6)},
    "L6": codes.SCT.LumbarSpine,
    "Sacral": codes.SCT.Sacrum,
}

# Patient and study attributes the SR inherits from its source images: the
# identity as de-identification left it (and its record of doing so), the
# characteristics kept for body composition, the study identity, and the
# per-project clinical-trial pseudonyms when the platform sets them.
PATIENT_STUDY_KEYWORDS: tuple[str, ...] = (
    "SpecificCharacterSet",
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
    "PatientAge", "PatientSize", "PatientWeight",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
    "ReferringPhysicianName",
    "ClinicalTrialSponsorName", "ClinicalTrialProtocolID", "ClinicalTrialProtocolName",
    "ClinicalTrialSiteID", "ClinicalTrialSiteName", "ClinicalTrialSubjectID",
    "ClinicalTrialTimePointID",
)  # fmt: skip
# Type 2 attributes highdicom reads unconditionally: absent ones become empty.
_REQUIRED_EMPTY = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "StudyID", "AccessionNumber",
)  # fmt: skip


class LevelRangeLike(TypedDict):
    """One decoded level range: indices into `source_images`, first <= mid <= last.
    `LevelRange.to_dict()` of ml_worker.decoding and the job result's ranges fit."""

    level: str
    first: int
    last: int
    mid: int
    confidence: float


class LevelRangeRecord(TypedDict):
    """A level range as read back from an SR, by SOP Instance UID."""

    level: str
    first_sop_instance_uid: str
    mid_sop_instance_uid: str
    last_sop_instance_uid: str
    confidence: float


def build_level_sr(
    source_images: Sequence[Dataset],
    ranges: Sequence[LevelRangeLike],
    *,
    model_name: str,
    model_version: str,
    flags: Sequence[tuple[str, str]] = (),
    series_number: int = 990,
    series_description: str = "Spine levels",
    manufacturer: str = "sarcopenia-platform",
    institution_name: str | None = None,
    institutional_department_name: str | None = None,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
) -> hd.sr.ComprehensiveSR:
    """The levels of one series (`source_images`, normally superior → inferior) as
    a Comprehensive SR in the images' study, with new series and instance UIDs
    unless given (pass fixed ones to make a retried store idempotent).

    Every source slice is recorded as evidence, since the decoder used them
    all. Raises ValueError for an empty or mixed series, no ranges, or a range
    with an unknown level, out-of-order indices or a confidence outside 0-1."""
    _check_series(source_images)
    if not ranges:
        raise ValueError("an SR needs at least one level range")
    for level_range in ranges:
        _check_range(level_range, len(source_images))
    algorithm = hd.sr.AlgorithmIdentification(name=model_name, version=model_version)
    groups = [_level_group(r, source_images, algorithm) for r in ranges]
    report = hd.sr.MeasurementReport(
        observation_context=device_observer_context(model_name, model_version, manufacturer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
        referenced_images=_referenced_images(source_images, ranges),
    )
    if flags:
        report[0].ContentSequence.append(_flags_container(flags))
    return hd.sr.ComprehensiveSR(
        evidence=[evidence_stub(ds) for ds in source_images],
        content=report[0],
        series_instance_uid=series_instance_uid or generate_uid(),
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name=model_name,
        software_versions=model_version,
        institution_name=institution_name,
        institutional_department_name=institutional_department_name,
        series_description=series_description,
        is_complete=True,
        content_qualification=hd.ContentQualificationValues.RESEARCH,
    )


def read_level_sr(ds: Dataset) -> list[LevelRangeRecord]:
    """The level ranges of an SR written by `build_level_sr`, in report order."""
    return [_read_group(group) for group in _report(ds).get_image_measurement_groups()]


def read_level_sr_flags(ds: Dataset) -> list[tuple[str, str]]:
    """The (code, message) flags of an SR written by `build_level_sr`."""
    flags: list[tuple[str, str]] = []
    for item in _report(ds)[0].ContentSequence:
        if item.name != QUALITATIVE_EVALUATIONS:
            continue
        for flag in item.ContentSequence:
            if flag.name == FLAG and flag.value_type == hd.sr.ValueTypeValues.TEXT:
                code, _, message = flag.value.partition(_FLAG_SEPARATOR)
                flags.append((code, message))
    return flags


def _check_series(source_images: Sequence[Dataset]) -> None:
    if not source_images:
        raise ValueError("no source images")
    series = {(ds.StudyInstanceUID, ds.SeriesInstanceUID) for ds in source_images}
    if len(series) != 1:
        raise ValueError("source images must all belong to one series")


def _check_range(level_range: LevelRangeLike, n_slices: int) -> None:
    level = level_range["level"]
    if level not in LEVEL_SITES:
        raise ValueError(f"unknown level {level!r}")
    first, mid, last = level_range["first"], level_range["mid"], level_range["last"]
    if not 0 <= first <= mid <= last < n_slices:
        raise ValueError(f"{level}: need 0 <= first <= mid <= last < {n_slices}")
    if not 0.0 <= level_range["confidence"] <= 1.0:
        raise ValueError(f"{level}: confidence must lie in [0, 1]")


def _level_group(
    level_range: LevelRangeLike,
    source_images: Sequence[Dataset],
    algorithm: hd.sr.AlgorithmIdentification,
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    level = level_range["level"]
    site = LEVEL_SITES[level]
    confidence = hd.sr.Measurement(
        name=CONFIDENCE,
        value=float(level_range["confidence"]),
        unit=codes.UCUM.NoUnits,
    )
    roles = (level_range["first"], level_range["mid"], level_range["last"])
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=_tracking_uid(source_images[0].SeriesInstanceUID, level), identifier=level
        ),
        finding_category=codes.SCT.AnatomicalStructure,
        finding_sites=[hd.sr.FindingSite(anatomic_location=site)],
        algorithm_id=algorithm,
        measurements=[confidence],
        source_images=[
            hd.sr.SourceImageForMeasurementGroup.from_source_image(source_images[i]) for i in roles
        ],
    )


def _tracking_uid(series_instance_uid: str, level: str) -> UID:
    # Same series and level, same UID: longitudinal tools match levels across
    # reports (a re-run, another model version) by Tracking UID.
    return generate_uid(entropy_srcs=["spine-level", series_instance_uid, level])


def device_observer_context(
    model_name: str, model_version: str, manufacturer: str, kind: str = "spine-level-model"
) -> hd.sr.ObservationContext:
    """The model as the observing device (TID 1004), with a UID stable per kind, name and
    version, so every report of one model version names the same device."""
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=generate_uid(entropy_srcs=[kind, model_name, model_version]),
        name=f"{model_name} {model_version}",
        manufacturer_name=manufacturer,
        model_name=model_name,
    )
    return hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device
        )
    )


def _referenced_images(
    source_images: Sequence[Dataset], ranges: Sequence[LevelRangeLike]
) -> list[Dataset]:
    """Image Library entries: each referenced slice once, superior first."""
    indices = sorted({r[key] for r in ranges for key in ("first", "mid", "last")})
    return [source_images[i] for i in indices]


def _flags_container(flags: Sequence[tuple[str, str]]) -> hd.sr.ContainerContentItem:
    if any(_FLAG_SEPARATOR in code for code, _ in flags):
        raise ValueError(f"flag codes must not contain {_FLAG_SEPARATOR!r}")
    container = hd.sr.ContainerContentItem(
        name=QUALITATIVE_EVALUATIONS, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    container.ContentSequence = hd.sr.ContentSequence(
        [
            hd.sr.TextContentItem(
                name=FLAG,
                # UT drops trailing spaces: a flag without a message is its code alone.
                value=f"{code}{_FLAG_SEPARATOR}{message}" if message else code,
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
            )
            for code, message in flags
        ]
    )
    return container


def evidence_stub(ds: Dataset) -> Dataset:
    """The references and allow-listed patient/study attributes of one source
    image. highdicom copies patient, study and acquisition-equipment data from
    its evidence, so handing it this stub keeps everything else out of the SR;
    with no Manufacturer here it adds no acquisition equipment either."""
    stub = Dataset()
    for keyword in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", *PATIENT_STUDY_KEYWORDS):
        if keyword in ds:
            setattr(stub, keyword, copy.deepcopy(ds[keyword].value))
    for keyword in _REQUIRED_EMPTY:
        if keyword not in stub:
            setattr(stub, keyword, "")
    return stub


def _report(ds: Dataset) -> hd.sr.MeasurementReport:
    sr = hd.sr.ComprehensiveSR.from_dataset(ds)
    if not isinstance(sr.content, hd.sr.MeasurementReport):
        raise ValueError("not a TID 1500 Measurement Report")
    return sr.content


def _read_group(group: hd.sr.MeasurementsAndQualitativeEvaluations) -> LevelRangeRecord:
    sources = group.source_images
    confidences = group.get_measurements(name=CONFIDENCE)
    if group.tracking_identifier is None or len(sources) != 3 or len(confidences) != 1:
        raise ValueError("measurement group is not a level range written by build_level_sr")
    first, mid, last = (str(image.referenced_sop_instance_uid) for image in sources)
    return LevelRangeRecord(
        level=group.tracking_identifier,
        first_sop_instance_uid=first,
        mid_sop_instance_uid=mid,
        last_sop_instance_uid=last,
        confidence=_unit_fraction(confidences[0]),
    )


def _unit_fraction(measurement: hd.sr.Measurement) -> float:
    # Other tools may write the confidence in percent.
    value = float(measurement.value)
    return value / 100.0 if measurement.unit.value == "%" else value

"""Body-composition measurements as a DICOM Comprehensive SR holding a TID 1500
Measurement Report (highdicom), referencing the tissue SEG and the CT slices.

Per measured level (one whose row has values):

- per tissue, one TID 1411 Volumetric ROI group: Tracking Identifier
  "<level> <tissue>" (UID stable per series, level and tissue), Finding Site
  the vertebra (SNOMED CT, as in ml_worker.sr), the SEG segment and its
  frames on this level's slices (each frame naming its CT source image), and
  Area (SCT 42798000, cm2) - the mean over the level's slices, derivation
  Mean (SCT 373098007) when more than one; skeletal muscle adds Mean
  Attenuation Coefficient (DCM 112181, HU);
- one TID 1501 group "<level> indices" with the CT slices as source images:
  skeletal muscle index (cm2/m2) when the height is known and the visceral /
  subcutaneous fat area ratio, under local codes (scheme 99SARC: SNOMED CT
  and DICOM have none for them).

Statuses and sarcopenia flags are TEXT items in the Qualitative Evaluations
container (TID 1500 row 12): "<level> status: <code>" and
"<level> <cutoff id>: low|not low|unknown (<value> vs <threshold> <unit>;
<citation>)". The observer is the algorithm as a device (TID 1004)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from ml_worker.bodycomp.dicom_seg import segment_frames
from ml_worker.bodycomp.tissues import TISSUES, Tissue
from ml_worker.sr import (
    LEVEL_SITES,
    QUALITATIVE_EVALUATIONS,
    device_observer_context,
    evidence_stub,
)

LOCAL_SCHEME = "99SARC"
SMI = Code("SMI", LOCAL_SCHEME, "Skeletal muscle index")
VAT_SAT_RATIO = Code("VATSAT", LOCAL_SCHEME, "Visceral to subcutaneous adipose tissue area ratio")
AREA = codes.SCT.Area
MEAN = codes.SCT.Mean
MEAN_ATTENUATION = codes.DCM.MeanAttenuationCoefficient
CM2_PER_M2 = Code("cm2/m2", "UCUM", "square centimeter per square meter")
STATEMENT = codes.DCM.Comment  # 121106, as the level SR's flags


def build_bodycomp_sr(
    source_images: Sequence[Dataset],
    seg: Dataset,
    levels: Sequence[dict[str, Any]],
    *,
    algorithm_name: str,
    algorithm_version: str,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    series_number: int = 992,
    manufacturer: str = "sarcopenia-platform",
) -> hd.sr.ComprehensiveSR:
    """`levels`: the result's level rows (see `measure.measure_level`); their
    slices name `source_images` by SOP Instance UID."""
    by_uid = {str(ds.SOPInstanceUID): ds for ds in source_images}
    algorithm = hd.sr.AlgorithmIdentification(name=algorithm_name, version=algorithm_version)
    frames = segment_frames(seg)
    groups: list[Any] = []
    statements: list[str] = []
    for row in levels:
        statements += _statements(row)
        used = [by_uid[s["sop_instance_uid"]] for s in row["slices"] if s["status"] == "ok"]
        if row["muscle_area_cm2"] is None or not used or row["level"] not in LEVEL_SITES:
            continue
        groups += _tissue_groups(row, used, seg, frames, algorithm)
        groups.append(_index_group(row, used, algorithm))
    if not groups:
        raise ValueError("no level has measurements to report")
    report = hd.sr.MeasurementReport(
        observation_context=device_observer_context(
            algorithm_name, algorithm_version, manufacturer, kind="bodycomp-algorithm"
        ),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
    )
    if statements:
        report[0].ContentSequence.append(_statements_container(statements))
    return hd.sr.ComprehensiveSR(
        evidence=[evidence_stub(ds) for ds in (*source_images, seg)],
        content=report[0],
        series_instance_uid=series_instance_uid or generate_uid(),
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name=algorithm_name,
        software_versions=algorithm_version,
        series_description="Body composition",
        is_complete=True,
        content_qualification=hd.ContentQualificationValues.RESEARCH,
    )


def _tissue_groups(
    row: dict[str, Any],
    used: list[Dataset],
    seg: Dataset,
    frames: dict[tuple[int, str], int],
    algorithm: hd.sr.AlgorithmIdentification,
) -> list[hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations]:
    level, groups = row["level"], []
    derivation = MEAN if len(used) > 1 else None
    for tissue in TISSUES:
        present = [ds for ds in used if (int(tissue), str(ds.SOPInstanceUID)) in frames]
        area = row[f"{tissue.key}_area_cm2"]
        if not present or area is None:
            continue  # an empty segment has no frames to point at
        measurements = [
            hd.sr.Measurement(AREA, area, codes.UCUM.SquareCentimeter, derivation=derivation)
        ]
        if tissue is Tissue.MUSCLE and row["muscle_density_hu"] is not None:
            measurements.append(
                hd.sr.Measurement(
                    MEAN_ATTENUATION, row["muscle_density_hu"], codes.UCUM.HounsfieldUnit
                )
            )
        segment = hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=int(tissue),
            frame_numbers=[frames[(int(tissue), str(ds.SOPInstanceUID))] for ds in present],
            source_images=[
                hd.sr.SourceImageForSegmentation.from_source_image(ds) for ds in present
            ],
        )
        groups.append(
            hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(used[0], level, tissue.key),
                referenced_segment=segment,
                finding_sites=[hd.sr.FindingSite(anatomic_location=LEVEL_SITES[level])],
                finding_category=codes.SCT.AnatomicalStructure,
                algorithm_id=algorithm,
                measurements=measurements,
            )
        )
    return groups


def _index_group(
    row: dict[str, Any], used: list[Dataset], algorithm: hd.sr.AlgorithmIdentification
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    measurements = []
    if row["smi_cm2_m2"] is not None:
        measurements.append(hd.sr.Measurement(SMI, row["smi_cm2_m2"], CM2_PER_M2))
    if row["vat_sat_ratio"] is not None:
        measurements.append(
            hd.sr.Measurement(VAT_SAT_RATIO, row["vat_sat_ratio"], codes.UCUM.NoUnits)
        )
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(used[0], row["level"], "indices"),
        finding_category=codes.SCT.AnatomicalStructure,
        finding_sites=[hd.sr.FindingSite(anatomic_location=LEVEL_SITES[row["level"]])],
        algorithm_id=algorithm,
        measurements=measurements or None,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ds) for ds in used],
    )


def _tracking(image: Dataset, level: str, what: str) -> hd.sr.TrackingIdentifier:
    uid = generate_uid(entropy_srcs=["bodycomp", str(image.SeriesInstanceUID), level, what])
    return hd.sr.TrackingIdentifier(uid=uid, identifier=f"{level} {what}")


def _statements(row: dict[str, Any]) -> list[str]:
    level = row["level"]
    lines = [f"{level} status: {issue}" for issue in row["issues"]]
    for flag in row["flags"]:
        verdict = {True: "low", False: "not low", None: "unknown"}[flag["low"]]
        detail = f"{flag['value']} vs {flag['threshold']} {flag['unit']}"
        lines.append(f"{level} {flag['cutoff']}: {verdict} ({detail}; {flag['citation']})")
    return lines


def _statements_container(lines: Sequence[str]) -> hd.sr.ContainerContentItem:
    container = hd.sr.ContainerContentItem(
        name=QUALITATIVE_EVALUATIONS, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    container.ContentSequence = hd.sr.ContentSequence(
        [
            hd.sr.TextContentItem(
                name=STATEMENT, value=line, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
            )
            for line in lines
        ]
    )
    return container


def read_bodycomp_sr(ds: Dataset) -> dict[str, dict[str, float]]:
    """{"<level> <tissue|indices>": {measurement name: value}} from an SR of
    `build_bodycomp_sr`, for tests and other readers."""
    sr = hd.sr.ComprehensiveSR.from_dataset(ds)
    if not isinstance(sr.content, hd.sr.MeasurementReport):
        raise ValueError("not a TID 1500 Measurement Report")
    out: dict[str, dict[str, float]] = {}
    groups = [
        *sr.content.get_volumetric_roi_measurement_groups(),
        *sr.content.get_image_measurement_groups(),
    ]
    for group in groups:
        values = {str(m.name.meaning): float(m.value) for m in group.get_measurements()}
        out[str(group.tracking_identifier)] = values
    return out

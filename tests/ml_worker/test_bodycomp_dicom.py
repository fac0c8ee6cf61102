"""DICOM SEG and TID 1500 SR of body composition, read back with highdicom."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from ml_worker.bodycomp.codec import decode_masks
from ml_worker.bodycomp.dicom_seg import read_tissue_seg
from ml_worker.bodycomp.dicom_sr import read_bodycomp_sr
from ml_worker.bodycomp.measure import Patient
from ml_worker.bodycomp.pipeline import Algorithm, LevelRequest, measure_series
from tests.ml_worker.bodycomp_cases import CompartmentSegmenter, phantom_slices


def _roundtrip(ds: pydicom.Dataset) -> pydicom.Dataset:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(BytesIO(buffer.getvalue()))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    cases = phantom_slices(tmp_path_factory.mktemp("seg"), levels=("L3", "L3"), size=96)
    uids = tuple(str(ds.SOPInstanceUID) for ds in cases.datasets)
    result, seg, sr = measure_series(
        cases.datasets, [LevelRequest("L3", uids)], CompartmentSegmenter(cases),
        Algorithm("threshold", "phantom-compartments", "test"),
        patient=Patient(1.7, 70.0, "M"), patient_source={},
    )  # fmt: skip
    assert seg is not None and sr is not None
    return cases, result, _roundtrip(seg), _roundtrip(sr)


def test_seg_holds_one_segment_per_tissue_with_codes(outputs) -> None:  # type: ignore[no-untyped-def]
    cases, result, seg, _ = outputs
    parsed = hd.seg.Segmentation.from_dataset(seg)
    assert parsed.SegmentationType == "BINARY"
    labels = {int(s.segment_number): s.segment_label for s in parsed.SegmentSequence}
    assert labels == {1: "Skeletal muscle", 2: "Intermuscular adipose tissue",
                      3: "Subcutaneous adipose tissue", 4: "Visceral adipose tissue"}  # fmt: skip
    types = {int(s.segment_number): s.segmented_property_type.value for s in parsed.SegmentSequence}
    assert types == {1: "127954009", 2: "55603005", 3: "55603005", 4: "55603005"}
    regions = {
        int(s.segment_number): s.AnatomicRegionSequence[0].CodeValue
        for s in parsed.SegmentSequence
        if "AnatomicRegionSequence" in s
    }
    assert regions == {2: "127954009", 3: "71966008", 4: "91806002"}
    sources = {str(r.ReferencedSOPInstanceUID) for r in seg.ReferencedSeriesSequence[0]
               .ReferencedInstanceSequence}  # fmt: skip
    assert sources == {str(ds.SOPInstanceUID) for ds in cases.datasets}
    assert str(seg.StudyInstanceUID) == str(cases.datasets[0].StudyInstanceUID)


def test_seg_masks_equal_the_result_masks(outputs) -> None:  # type: ignore[no-untyped-def]
    _, result, seg, _ = outputs
    from_seg = read_tissue_seg(seg)
    for item in result["masks"]["slices"]:
        expected = decode_masks(item)
        assert np.array_equal(from_seg[item["sop_instance_uid"]].label_map(), expected.label_map())


def test_sr_reports_areas_density_and_smi_referencing_seg_and_ct(outputs) -> None:  # type: ignore[no-untyped-def]
    cases, result, seg, sr = outputs
    values = read_bodycomp_sr(sr)
    row = result["levels"][0]
    assert values["L3 muscle"]["Area"] == pytest.approx(row["muscle_area_cm2"])
    assert values["L3 muscle"]["Mean Attenuation Coefficient"] == pytest.approx(
        row["muscle_density_hu"]
    )
    for key in ("imat", "sat", "vat"):
        assert values[f"L3 {key}"]["Area"] == pytest.approx(row[f"{key}_area_cm2"])
    assert values["L3 indices"]["Skeletal muscle index"] == pytest.approx(row["smi_cm2_m2"])
    report = hd.sr.ComprehensiveSR.from_dataset(sr).content
    group = report.get_volumetric_roi_measurement_groups(tracking_uid=None)[0]
    assert str(group.referenced_segment.referenced_sop_instance_uid) == str(seg.SOPInstanceUID)
    studies = sr.CurrentRequestedProcedureEvidenceSequence
    evidence = {str(i.ReferencedSOPInstanceUID) for s in studies
                for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence}  # fmt: skip
    assert evidence == {str(seg.SOPInstanceUID), *(str(ds.SOPInstanceUID) for ds in cases.datasets)}
    text = [item.TextValue for item in _texts(sr)]
    assert any(t.startswith("L3 prado2008_smi: ") and "Lancet Oncol" in t for t in text)


def test_outputs_are_deterministic(outputs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cases, result, seg, sr = outputs
    uids = tuple(str(ds.SOPInstanceUID) for ds in cases.datasets)
    again, seg2, sr2 = measure_series(
        cases.datasets, [LevelRequest("L3", uids)], CompartmentSegmenter(cases),
        Algorithm("threshold", "phantom-compartments", "test"),
        patient=Patient(1.7, 70.0, "M"), patient_source={},
    )  # fmt: skip
    assert again["seg"] == result["seg"] and again["sr"] == result["sr"]


def _texts(ds: pydicom.Dataset):  # type: ignore[no-untyped-def]
    for item in ds.get("ContentSequence", []):
        if item.ValueType == "TEXT":
            yield item
        yield from _texts(item)

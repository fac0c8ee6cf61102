"""Bad input gives a clear per-row status, never a silent zero; published
cut-offs give flags with their source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml_worker.bodycomp.cutoffs import DERSTINE_2018, MARTIN_2013, PRADO_2008, sarcopenia_flags
from ml_worker.bodycomp.measure import Patient, SliceMeasurement, measure_level, measure_slice
from ml_worker.bodycomp.pipeline import Algorithm, LevelRequest, measure_series
from ml_worker.bodycomp.threshold import ThresholdSegmenter
from ml_worker.bodycomp.tissues import TissueMasks
from tests.ml_worker.bodycomp_cases import phantom_slices

SPACING = (0.8, 0.8)


def _ok_slice(uid: str = "1.2.3", area: float = 150.0) -> SliceMeasurement:
    return SliceMeasurement(uid, muscle_area_cm2=area, imat_area_cm2=5.0, sat_area_cm2=100.0,
                            vat_area_cm2=80.0, muscle_density_hu=40.0, muscle_hu_sum=4000.0,
                            muscle_pixels=100)  # fmt: skip


def test_slice_outside_the_body_is_reported() -> None:
    air = np.full((64, 64), -1000.0, dtype=np.float32)
    masks = ThresholdSegmenter().segment(air, SPACING)
    row = measure_slice("1.2.3", air, masks, SPACING)
    assert row.status == "outside_body" and row.muscle_area_cm2 is None


def test_missing_pixel_spacing_gives_no_areas() -> None:
    row = measure_slice("1.2.3", np.zeros((8, 8), np.float32), None, None)
    assert row.status == "missing_pixel_spacing"
    assert row.muscle_area_cm2 is None and row.sat_area_cm2 is None


def test_empty_muscle_mask_is_reported_not_zero() -> None:
    fat = np.full((64, 64), -1000.0, dtype=np.float32)
    fat[8:56, 8:56] = -100.0  # a body of pure fat
    row = measure_slice("1.2.3", fat, TissueMasks.empty(fat.shape), SPACING)
    assert row.status == "empty_mask" and row.muscle_area_cm2 is None
    level = measure_level("L3", [row], Patient(1.7, 70.0, "M"))
    assert level["status"] == "no_valid_slice" and level["muscle_area_cm2"] is None


@pytest.mark.parametrize(
    ("patient", "status"),
    [
        (Patient(None, 70.0, "M"), "missing_height"),
        (Patient(175.0, 70.0, "M"), "implausible_height"),  # centimetres: never converted
        (Patient(1.75, 70.0, None), "missing_sex"),
        (Patient(1.75, None, "M"), "missing_bmi"),
    ],
)
def test_patient_gaps_are_reported_per_level(patient: Patient, status: str) -> None:
    row = measure_level("L3", [_ok_slice()], patient)
    assert row["status"] == status and row["muscle_area_cm2"] == 150.0
    if status in ("missing_height", "implausible_height"):
        assert row["smi_cm2_m2"] is None
        assert all(f["low"] is None for f in row["flags"] if f["measure"] == "smi")
    if status == "missing_sex":
        assert row["flags"] == []
    if status == "missing_bmi":
        martin = [f for f in row["flags"] if f["cutoff"].startswith("martin")]
        assert martin and all(f["reason"] == "missing_bmi" and f["low"] is None for f in martin)
        prado = next(f for f in row["flags"] if f["cutoff"] == "prado2008_smi")
        assert prado["low"] is not None


def test_skipped_slices_are_reported_and_left_out() -> None:
    bad = measure_slice("9", np.zeros((8, 8), np.float32), None, None)
    row = measure_level("L3", [_ok_slice(area=100.0), bad], Patient(1.7, 70.0, "F"))
    assert row["status"] == "some_slices_skipped" and row["n_slices_used"] == 1
    assert row["muscle_area_cm2"] == 100.0
    assert [s["status"] for s in row["slices"]] == ["ok", "missing_pixel_spacing"]


def test_levels_without_a_published_cutoff_get_no_flag() -> None:
    row = measure_level("T4", [_ok_slice()], Patient(1.7, 70.0, "M"))
    assert row["flags"] == [] and row["issues"] == ["no_cutoff_for_level"]
    assert row["smi_cm2_m2"] is not None


@pytest.mark.parametrize(
    ("sex", "bmi", "smi", "expected"),
    [
        # Prado 2008: 52.4 men, 38.5 women; Martin 2013: men 43 (BMI<25) / 53
        # (BMI>=25), women 41; Derstine 2018: 45.4 men, 34.4 women.
        (
            "M",
            22.0,
            44.0,
            {"prado2008_smi": True, "martin2013_smi": False, "derstine2018_smi": True},
        ),
        (
            "M",
            27.0,
            52.9,
            {"prado2008_smi": False, "martin2013_smi": True, "derstine2018_smi": False},
        ),
        (
            "F",
            30.0,
            38.0,
            {"prado2008_smi": True, "martin2013_smi": True, "derstine2018_smi": False},
        ),
        (
            "F",
            20.0,
            40.0,
            {"prado2008_smi": False, "martin2013_smi": True, "derstine2018_smi": False},
        ),
    ],
)
def test_l3_smi_cutoffs(sex: str, bmi: float, smi: float, expected: dict[str, bool]) -> None:
    flags, issues = sarcopenia_flags("L3", sex, {"smi": smi, "muscle_density": 45.0}, bmi)
    assert issues == []
    smi_flags = {f["cutoff"]: f["low"] for f in flags if f["measure"] == "smi"}
    assert smi_flags == expected
    citations = {f["cutoff"].split("_")[0]: f["citation"] for f in flags}
    assert citations == {"prado2008": PRADO_2008, "martin2013": MARTIN_2013,
                         "derstine2018": DERSTINE_2018}  # fmt: skip


def test_l3_muscle_density_cutoffs() -> None:
    # Martin 2013: < 41 HU with BMI < 25, < 33 HU with BMI >= 25 (both sexes);
    # Derstine 2018: < 38.5 HU men, < 34.3 HU women.
    def low(sex: str, bmi: float, hu: float) -> dict[str, bool]:
        flags, _ = sarcopenia_flags("L3", sex, {"smi": 50.0, "muscle_density": hu}, bmi)
        return {f["cutoff"]: f["low"] for f in flags if f["measure"] == "muscle_density"}

    assert low("M", 24.0, 40.0) == {"martin2013_density": True, "derstine2018_density": False}
    assert low("M", 26.0, 35.0) == {"martin2013_density": False, "derstine2018_density": True}
    assert low("F", 26.0, 34.0) == {"martin2013_density": False, "derstine2018_density": True}


def test_pipeline_reports_missing_spacing_and_height(tmp_path: Path) -> None:
    cases = phantom_slices(tmp_path, levels=("L3", "L3"), size=96)
    del cases.datasets[1].PixelSpacing
    for ds in cases.datasets:
        del ds.PatientSize
    uids = tuple(str(ds.SOPInstanceUID) for ds in cases.datasets)
    result, seg, sr = measure_series(
        cases.datasets, [LevelRequest("L3", uids)], ThresholdSegmenter(),
        Algorithm("threshold", "threshold", "1"), patient=Patient(None, 70.0, "F"),
        patient_source={},
    )  # fmt: skip
    row = result["levels"][0]
    assert [s["status"] for s in row["slices"]] == ["ok", "missing_pixel_spacing"]
    assert row["issues"] == ["missing_height", "missing_bmi", "some_slices_skipped"]
    assert row["status"] == "missing_height" and row["smi_cm2_m2"] is None
    assert len(result["masks"]["slices"]) == 1  # no masks for the slice it could not measure
    assert seg is not None and sr is not None


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"levels": []},
        {"levels": ["L3"]},
        {"levels": [{"level": "L3", "sop_instance_uids": []}]},
    ],
)
def test_malformed_job_parameters_are_refused_clearly(parameters: dict) -> None:
    from ml_worker.bodycomp.job import JobError, parse_levels

    with pytest.raises(JobError, match="level"):
        parse_levels(parameters)

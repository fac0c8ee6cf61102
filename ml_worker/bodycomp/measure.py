"""Areas, muscle density and indices per slice and per level, with a status
for every row instead of a silent zero.

Issue codes (a row's `status` is its most severe issue, or "ok"):

- slice: `missing_geometry` (no ImageOrientationPatient), `missing_pixel_spacing`
  (no areas without it), `outside_body` (less
  than `MIN_BODY_CM2` of tissue above -500 HU), `empty_mask` (no skeletal
  muscle found);
- level: `no_valid_slice` (every slice had one of the above), and, with
  values still reported, `missing_height` / `implausible_height` (no SMI),
  `missing_sex` (no flags), `missing_bmi` (BMI-dependent cut-offs skipped),
  `no_cutoff_for_level`, `some_slices_skipped`.

Areas in cm2 (pixel count x row spacing x column spacing / 100), density in
HU (mean over the muscle pixels), SMI = muscle area / height^2 in cm2/m2.
A level's values average its valid slices: areas as the mean area, density
over all their muscle pixels together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ml_worker.bodycomp.cutoffs import sarcopenia_flags
from ml_worker.bodycomp.threshold import body_mask
from ml_worker.bodycomp.tissues import TissueMasks

MIN_BODY_CM2 = 10.0
HEIGHT_RANGE_M = (1.0, 2.5)  # outside: probably centimetres or a typo; never converted
SEVERITY = (
    "missing_geometry", "missing_pixel_spacing", "outside_body", "empty_mask", "no_valid_slice",
    "missing_height", "implausible_height", "missing_sex", "missing_bmi",
    "no_cutoff_for_level", "some_slices_skipped",
)  # fmt: skip


@dataclass(frozen=True)
class Patient:
    """What the de-identified headers keep for body composition."""

    height_m: float | None = None
    weight_kg: float | None = None
    sex: str | None = None  # "M" or "F"; anything else counts as missing

    @property
    def bmi(self) -> float | None:
        if self.weight_kg is None or self.height_issue() is not None or self.height_m is None:
            return None
        return self.weight_kg / self.height_m**2

    def height_issue(self) -> str | None:
        if self.height_m is None:
            return "missing_height"
        if not HEIGHT_RANGE_M[0] <= self.height_m <= HEIGHT_RANGE_M[1]:
            return "implausible_height"
        return None

    @classmethod
    def from_values(cls, height_m: Any, weight_kg: Any, sex: Any) -> Patient:
        return cls(_positive(height_m), _positive(weight_kg), sex if sex in ("M", "F") else None)


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


@dataclass
class SliceMeasurement:
    sop_instance_uid: str
    status: str = "ok"
    issues: list[str] = field(default_factory=list)
    muscle_area_cm2: float | None = None
    imat_area_cm2: float | None = None
    sat_area_cm2: float | None = None
    vat_area_cm2: float | None = None
    muscle_density_hu: float | None = None
    body_area_cm2: float | None = None
    muscle_hu_sum: float = 0.0  # for the level's density over all its muscle pixels
    muscle_pixels: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["muscle_hu_sum"], data["muscle_pixels"]
        return data


def measure_slice(
    sop_instance_uid: str,
    hu: np.ndarray,
    masks: TissueMasks | None,
    spacing_mm: tuple[float, float] | None,
) -> SliceMeasurement:
    """Measurements of one slice; `masks` None when it could not be segmented."""
    row = SliceMeasurement(sop_instance_uid)
    if spacing_mm is None or masks is None:
        return _with_issue(row, "missing_pixel_spacing")
    cm2 = spacing_mm[0] * spacing_mm[1] / 100.0
    row.body_area_cm2 = _round(body_mask(hu).sum() * cm2)
    if row.body_area_cm2 < MIN_BODY_CM2:
        return _with_issue(row, "outside_body")
    row.imat_area_cm2 = _round(masks.imat.sum() * cm2)
    row.sat_area_cm2 = _round(masks.sat.sum() * cm2)
    row.vat_area_cm2 = _round(masks.vat.sum() * cm2)
    row.muscle_pixels = int(masks.muscle.sum())
    if row.muscle_pixels == 0:
        return _with_issue(row, "empty_mask")
    row.muscle_hu_sum = float(np.asarray(hu, dtype=np.float64)[masks.muscle].sum())
    row.muscle_area_cm2 = _round(row.muscle_pixels * cm2)
    row.muscle_density_hu = _round(row.muscle_hu_sum / row.muscle_pixels, 2)
    return row


def measure_level(
    level: str, slices: Sequence[SliceMeasurement], patient: Patient
) -> dict[str, Any]:
    """One level's row: mean of its valid slices, indices, flags, status."""
    valid = [s for s in slices if s.status == "ok"]
    issues: list[str] = []
    row: dict[str, Any] = {"level": level, "n_slices": len(slices), "n_slices_used": len(valid)}
    values = dict.fromkeys(
        ("muscle_area_cm2", "imat_area_cm2", "sat_area_cm2", "vat_area_cm2",
         "muscle_density_hu", "smi_cm2_m2", "vat_sat_ratio"),
    )  # fmt: skip
    if not valid:
        issues.append("no_valid_slice")
    else:
        if len(valid) < len(slices):
            issues.append("some_slices_skipped")
        for key in ("muscle_area_cm2", "imat_area_cm2", "sat_area_cm2", "vat_area_cm2"):
            values[key] = _round(float(np.mean([getattr(s, key) for s in valid])))
        pixels = sum(s.muscle_pixels for s in valid)
        values["muscle_density_hu"] = _round(sum(s.muscle_hu_sum for s in valid) / pixels, 2)
        if values["sat_area_cm2"]:
            values["vat_sat_ratio"] = _round(values["vat_area_cm2"] / values["sat_area_cm2"], 4)
        height_issue = patient.height_issue()
        if height_issue is not None:
            issues.append(height_issue)
        elif patient.height_m is not None:
            values["smi_cm2_m2"] = _round(values["muscle_area_cm2"] / patient.height_m**2)
    bmi = patient.bmi
    flags, flag_issues = sarcopenia_flags(
        level,
        patient.sex,
        {"smi": values["smi_cm2_m2"], "muscle_density": values["muscle_density_hu"]},
        bmi,
    )
    issues += [i for i in flag_issues if i not in issues]
    row.update(values)
    row["bmi_kg_m2"] = None if bmi is None else _round(bmi)
    row["flags"] = flags
    row["issues"] = sorted(issues, key=SEVERITY.index)
    row["status"] = row["issues"][0] if row["issues"] else "ok"
    row["slices"] = [s.to_dict() for s in slices]
    return row


def _with_issue(row: SliceMeasurement, issue: str) -> SliceMeasurement:
    row.issues.append(issue)
    row.status = issue
    return row


def _round(value: float, digits: int = 3) -> float:
    return round(float(value), digits)

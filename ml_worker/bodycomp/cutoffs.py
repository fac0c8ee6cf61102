"""Published sarcopenia cut-offs per vertebral level and sex, each with its
source, and the flags they give for one level's measurements.

Only values checked against the papers are here. All are for L3:

- Prado et al. 2008, Lancet Oncol 9:629-635 (sarcopenic obesity in solid
  tumours of the respiratory and GI tracts): L3 skeletal muscle index below
  52.4 cm2/m2 in men, 38.5 in women (derived in obese patients).
- Martin et al. 2013, J Clin Oncol 31:1539-1547 (cancer cachexia in the age of
  obesity): L3 SMI below 43 cm2/m2 in men with BMI < 25 and below 53 with
  BMI >= 25, below 41 in women at any BMI; low muscle attenuation below 41 HU
  with BMI < 25 and below 33 HU with BMI >= 25, both sexes.
- Derstine et al. 2018, Sci Rep 8:11369 (healthy kidney donors aged 18-40,
  cut-off = mean - 2 s.d.): L3 SMI below 45.4 cm2/m2 in men, 34.4 in women;
  L3 muscle attenuation below 38.5 HU in men, 34.3 in women.

Derstine et al. also give cut-offs for T10-L2 and L4-L5 (their Table 2), and
Arayne et al. 2023 (BMC Cancer 23:56) for T4 and T12; they are not transcribed
here until someone checks them against the papers, so those levels, like every
level without a row below, get no flag and the issue "no_cutoff_for_level".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Measure = Literal["smi", "muscle_density"]

PRADO_2008 = "Prado CMM et al. Lancet Oncol 2008;9(7):629-635. doi:10.1016/S1470-2045(08)70153-0"
MARTIN_2013 = "Martin L et al. J Clin Oncol 2013;31(12):1539-1547. doi:10.1200/JCO.2012.45.2722"
DERSTINE_2018 = "Derstine BA et al. Sci Rep 2018;8:11369. doi:10.1038/s41598-018-29825-5"


@dataclass(frozen=True)
class Cutoff:
    """Low `measure` at `level` for `sex`: value < threshold (within the BMI range)."""

    id: str
    level: str
    measure: Measure
    sex: Literal["M", "F"]
    threshold: float
    unit: str
    citation: str
    bmi_min: float | None = None  # inclusive
    bmi_max: float | None = None  # exclusive

    @property
    def needs_bmi(self) -> bool:
        return self.bmi_min is not None or self.bmi_max is not None

    def applies_to_bmi(self, bmi: float) -> bool:
        low = self.bmi_min if self.bmi_min is not None else float("-inf")
        high = self.bmi_max if self.bmi_max is not None else float("inf")
        return low <= bmi < high


_SMI, _HU = "cm2/m2", "HU"
CUTOFFS: tuple[Cutoff, ...] = (
    Cutoff("prado2008_smi", "L3", "smi", "M", 52.4, _SMI, PRADO_2008),
    Cutoff("prado2008_smi", "L3", "smi", "F", 38.5, _SMI, PRADO_2008),
    Cutoff("martin2013_smi", "L3", "smi", "M", 43.0, _SMI, MARTIN_2013, bmi_max=25.0),
    Cutoff("martin2013_smi", "L3", "smi", "M", 53.0, _SMI, MARTIN_2013, bmi_min=25.0),
    Cutoff("martin2013_smi", "L3", "smi", "F", 41.0, _SMI, MARTIN_2013),
    Cutoff("martin2013_density", "L3", "muscle_density", "M", 41.0, _HU, MARTIN_2013, bmi_max=25.0),
    Cutoff("martin2013_density", "L3", "muscle_density", "M", 33.0, _HU, MARTIN_2013, bmi_min=25.0),
    Cutoff("martin2013_density", "L3", "muscle_density", "F", 41.0, _HU, MARTIN_2013, bmi_max=25.0),
    Cutoff("martin2013_density", "L3", "muscle_density", "F", 33.0, _HU, MARTIN_2013, bmi_min=25.0),
    Cutoff("derstine2018_smi", "L3", "smi", "M", 45.4, _SMI, DERSTINE_2018),
    Cutoff("derstine2018_smi", "L3", "smi", "F", 34.4, _SMI, DERSTINE_2018),
    Cutoff("derstine2018_density", "L3", "muscle_density", "M", 38.5, _HU, DERSTINE_2018),
    Cutoff("derstine2018_density", "L3", "muscle_density", "F", 34.3, _HU, DERSTINE_2018),
)  # fmt: skip
LEVELS_WITH_CUTOFFS = frozenset(c.level for c in CUTOFFS)


def sarcopenia_flags(
    level: str,
    sex: str | None,
    values: dict[Measure, float | None],
    bmi: float | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One flag per cut-off that applies to this level (each cut-off id once):
    {"cutoff", "measure", "value", "threshold", "unit", "low", "citation"}
    where "low" is True/False, or None with a "reason" when the value, the
    sex or the BMI is missing. Also returns issue codes for the row."""
    if level not in LEVELS_WITH_CUTOFFS:
        return [], ["no_cutoff_for_level"]
    if sex not in ("M", "F"):
        return [], ["missing_sex"]
    flags: list[dict[str, Any]] = []
    issues: set[str] = set()
    seen: set[str] = set()
    for cutoff in CUTOFFS:
        if cutoff.level != level or cutoff.sex != sex or cutoff.id in seen:
            continue
        if cutoff.needs_bmi and bmi is not None and not cutoff.applies_to_bmi(bmi):
            continue
        seen.add(cutoff.id)
        value = values.get(cutoff.measure)
        flag: dict[str, Any] = {
            "cutoff": cutoff.id,
            "measure": cutoff.measure,
            "value": value,
            "threshold": cutoff.threshold,
            "unit": cutoff.unit,
            "low": None,
            "citation": cutoff.citation,
        }
        if value is None:
            flag["reason"] = f"missing_{cutoff.measure}"
        elif cutoff.needs_bmi and bmi is None:
            flag["reason"] = "missing_bmi"
            flag["threshold"] = None
            issues.add("missing_bmi")
        else:
            flag["low"] = bool(value < cutoff.threshold)
        flags.append(flag)
    return flags, sorted(issues)

"""What the index keeps of each stored instance, read from its de-identified
header while the upload is prepared: a value that cannot be read refuses the
file before anything is stored, and the index needs no data set afterwards."""

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydicom import Dataset

from imaging.geometry import SliceGeometry, slice_geometry

_AGE_RE = re.compile(r"^(\d{3})([DWMY])$")
_AGE_DIVISOR = {"D": 365.25, "W": 52.18, "M": 12.0, "Y": 1.0}
INT32 = range(-(2**31), 2**31)


@dataclass(frozen=True)
class InstanceHeader:
    patient_pseudonym: str
    patient_sex: str
    patient_age_years: int | None
    patient_height_m: float | None
    patient_weight_kg: float | None
    study_date: date | None
    modality: str
    study_description: str
    body_part: str
    series_number: int | None
    series_description: str
    geometry: SliceGeometry


def instance_header(ds: Dataset) -> InstanceHeader:
    sex = ds.get("PatientSex")
    return InstanceHeader(
        patient_pseudonym=str(ds.get("PatientID", "")),
        patient_sex=str(sex) if sex in ("F", "M", "O") else "",
        patient_age_years=_age_years(ds.get("PatientAge")),
        patient_height_m=_positive_float(ds.get("PatientSize")),
        patient_weight_kg=_positive_float(ds.get("PatientWeight")),
        study_date=_dicom_date(ds.get("StudyDate")),
        modality=str(ds.get("Modality", ""))[:16],
        study_description=str(ds.get("StudyDescription", ""))[:200],
        body_part=str(ds.get("BodyPartExamined", ""))[:64],
        series_number=int_or_none(ds.get("SeriesNumber")),
        series_description=str(ds.get("SeriesDescription", ""))[:200],
        geometry=slice_geometry(ds),
    )


def _age_years(value: Any) -> int | None:
    match = _AGE_RE.match(str(value or ""))
    if not match:
        return None
    return int(int(match.group(1)) / _AGE_DIVISOR[match.group(2)])


def _positive_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def int_or_none(value: Any) -> int | None:
    """An integer that fits the index's integer columns, else None."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number in INT32 else None


def _dicom_date(value: Any) -> date | None:
    text = str(value or "")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None

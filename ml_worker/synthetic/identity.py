"""Fake patient and study identities whose PHI fields carry canary strings.

Every field that could identify a person holds a token `PHICANARY-<field>-<n>`,
so a test can grep any output (datasets, files, logs, exports) for leaks. The
characteristics that de-identification keeps for body composition (sex, age,
height, weight) are realistic values instead, and dates are real dates chosen
consistently with the age.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, time, timedelta

import numpy as np
from pydicom.dataset import Dataset

CANARY_PREFIX = "PHICANARY"
CANARY_PATTERN = re.compile(rf"{CANARY_PREFIX}-[A-Za-z0-9]+-\d+")
PIXEL_DATA_TAG = 0x7FE00010
_SH_MAX = 16  # DICOM SH values are at most 16 characters, so SH fields use short codes


def canary(code: str, index: int) -> str:
    """The canary token for one field of identity number `index`."""
    return f"{CANARY_PREFIX}-{code}-{index}"


def _short_canary(code: str, index: int) -> str:
    value = canary(code, index)
    if len(value) > _SH_MAX:
        raise ValueError(f"canary {value!r} exceeds the SH limit; use an index below 100")
    return value


@dataclass(frozen=True)
class SyntheticPatient:
    """A fake patient; `index` makes every canary unique across patients."""

    index: int
    name: str
    patient_id: str
    issuer_of_patient_id: str
    other_patient_ids: tuple[str, ...]
    other_names: str
    birth_name: str
    mother_birth_name: str
    birth_date: date
    sex: str  # "M" or "F"
    age_years: int
    height_m: float
    weight_kg: float
    address: str
    telephone: str
    ethnic_group: str
    occupation: str
    comments: str

    @property
    def bmi(self) -> float:
        return self.weight_kg / self.height_m**2


@dataclass(frozen=True)
class SyntheticStudy:
    """Study, request and site identity for one patient's examination."""

    index: int
    study_date: date
    study_time: time
    accession_number: str
    study_id: str
    study_description: str
    series_description: str
    protocol_name: str
    referring_physician: str
    requesting_physician: str
    physician_of_record: str
    reading_physician: str
    performing_physician: str
    operator_name: str
    institution_name: str
    institution_address: str
    department_name: str
    station_name: str
    device_serial_number: str
    requested_procedure_id: str
    requested_procedure_description: str
    scheduled_step_id: str
    scheduled_step_description: str
    additional_patient_history: str
    image_comments: str
    observer_name: str


def make_patient(index: int, *, seed: int = 0) -> SyntheticPatient:
    """A deterministic patient with realistic sex, age, height and weight."""
    rng = np.random.default_rng([seed, index, 1])
    sex = str(rng.choice(["M", "F"]))
    age = int(rng.integers(30, 86))
    height_mean, height_sd = (1.76, 0.07) if sex == "M" else (1.63, 0.065)
    height = round(float(np.clip(rng.normal(height_mean, height_sd), 1.45, 2.05)), 2)
    bmi = float(np.clip(rng.normal(26.0, 4.0), 17.0, 42.0))
    # Birth year puts the scan (birthday + age years + < 1 year) in 2012-2023.
    birth = date(
        int(rng.integers(2012, 2024)) - age, int(rng.integers(1, 13)), int(rng.integers(1, 29))
    )
    return SyntheticPatient(
        index=index,
        name=canary("PatientName", index),
        patient_id=canary("PatientID", index),
        issuer_of_patient_id=canary("IssuerOfPatientID", index),
        other_patient_ids=(canary("OtherPatientIDA", index), canary("OtherPatientIDB", index)),
        other_names=canary("OtherPatientNames", index),
        birth_name=canary("PatientBirthName", index),
        mother_birth_name=canary("PatientMotherBirthName", index),
        birth_date=birth,
        sex=sex,
        age_years=age,
        height_m=height,
        weight_kg=round(bmi * height**2, 1),
        address=canary("PatientAddress", index),
        telephone=_short_canary("TEL", index),
        ethnic_group=_short_canary("ETH", index),
        occupation=_short_canary("OCC", index),
        comments=canary("PatientComments", index),
    )


def make_study(
    patient: SyntheticPatient, *, index: int | None = None, seed: int = 0
) -> SyntheticStudy:
    """A study dated so the patient's age at the scan equals `patient.age_years`."""
    n = patient.index if index is None else index
    rng = np.random.default_rng([seed, patient.index, n, 2])
    birthday = patient.birth_date.replace(year=patient.birth_date.year + patient.age_years)
    study_date = birthday + timedelta(days=int(rng.integers(0, 360)))
    study_time = time(int(rng.integers(7, 19)), int(rng.integers(0, 60)), int(rng.integers(0, 60)))
    return SyntheticStudy(
        index=n,
        study_date=study_date,
        study_time=study_time,
        accession_number=_short_canary("ACC", n),
        study_id=_short_canary("SID", n),
        study_description=canary("StudyDescription", n),
        series_description=canary("SeriesDescription", n),
        protocol_name=canary("ProtocolName", n),
        referring_physician=canary("ReferringPhysicianName", n),
        requesting_physician=canary("RequestingPhysician", n),
        physician_of_record=canary("PhysiciansOfRecord", n),
        reading_physician=canary("NameOfPhysiciansReadingStudy", n),
        performing_physician=canary("PerformingPhysicianName", n),
        operator_name=canary("OperatorsName", n),
        institution_name=canary("InstitutionName", n),
        institution_address=canary("InstitutionAddress", n),
        department_name=canary("InstitutionalDepartmentName", n),
        station_name=_short_canary("STN", n),
        device_serial_number=canary("DeviceSerialNumber", n),
        requested_procedure_id=_short_canary("RPI", n),
        requested_procedure_description=canary("RequestedProcedureDescription", n),
        scheduled_step_id=_short_canary("SPS", n),
        scheduled_step_description=canary("ScheduledProcedureStepDescription", n),
        additional_patient_history=canary("AdditionalPatientHistory", n),
        image_comments=canary("ImageComments", n),
        observer_name=canary("PersonObserverName", n),
    )


def canary_strings(source: Dataset | SyntheticPatient | SyntheticStudy | bytes | str) -> set[str]:
    """Every canary token in an identity, a dataset (nested and private elements
    included, raw bytes too) or raw file bytes / text."""
    if isinstance(source, SyntheticPatient | SyntheticStudy):
        return _find("\n".join(_identity_texts(source)))
    if isinstance(source, Dataset):
        return _find("\n".join(_dataset_texts(source)))
    if isinstance(source, bytes):
        return _find(source.decode("latin-1"))
    return _find(source)


def _find(text: str) -> set[str]:
    return set(CANARY_PATTERN.findall(text))


def _identity_texts(identity: SyntheticPatient | SyntheticStudy) -> list[str]:
    texts: list[str] = []
    for item in dataclasses.fields(identity):
        value = getattr(identity, item.name)
        texts.extend(value if isinstance(value, tuple) else [str(value)])
    return texts


def _dataset_texts(dataset: Dataset) -> list[str]:
    # iterall() descends into sequences; private elements read as UN come back as bytes.
    texts: list[str] = []
    for element in dataset.iterall():
        if element.VR == "SQ" or element.tag == PIXEL_DATA_TAG:
            continue
        values = element.value if element.VM > 1 else [element.value]
        for value in values:
            texts.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return texts

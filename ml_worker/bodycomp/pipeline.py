"""Body composition at chosen levels of one CT series: segment each slice,
measure it, average each level, flag against published cut-offs, and build
the DICOM SEG and SR to store. Pure: the caller fetches the slices and stores
the objects (ml_worker.tasks.measure_body_composition).

Result schema "body-composition/1" (JSON; the platform stores it):

    {"schema": "body-composition/1",
     "study_instance_uid": str, "series_instance_uid": str,
     "method": "threshold" | "network",
     "model": {"name": str, "version": str, "sha256": str | null},
     "patient": {"height_m", "weight_kg", "sex", "bmi_kg_m2": float | str | null,
                 "source": {"height_m"|"weight_kg"|"sex": "parameters" | "dicom" | null}},
     "hu_windows": {"muscle": [-29, 150], "imat": [-190, -30], "sat": [...], "vat": [...]},
     "levels": [{                                  # one row per requested level
         "level": "L3", "status": "ok" | <issue>, "issues": [<issue>, ...],
         "n_slices": int, "n_slices_used": int,
         "muscle_area_cm2", "imat_area_cm2", "sat_area_cm2", "vat_area_cm2",
         "muscle_density_hu", "smi_cm2_m2", "vat_sat_ratio", "bmi_kg_m2": float | null,
         "flags": [{"cutoff", "measure", "value", "threshold", "unit",
                    "low": bool | null, "citation", "reason"?}],
         "slices": [{"sop_instance_uid", "status", "issues", "muscle_area_cm2",
                     "imat_area_cm2", "sat_area_cm2", "vat_area_cm2",
                     "muscle_density_hu", "body_area_cm2"}]}],
     "masks": {"encoding": "zlib+base64:uint8-labelmap",
               "labels": {"1": "muscle", "2": "imat", "3": "sat", "4": "vat"},
               "slices": [{"sop_instance_uid", "shape": [rows, cols], "data"}]},
     "seg": {"sop_instance_uid", "series_instance_uid"} | null,
     "sr": {"sop_instance_uid", "series_instance_uid"} | null,
     "timings": {stage: seconds}}

Issue codes are listed in `measure`; a null value always comes with one.
Masks are in each slice's stored pixel grid (rows and columns of the DICOM
image), for slices that could be segmented. SEG and SR UIDs derive from the
inputs, so a redelivered job stores the same objects again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from pydicom.dataset import Dataset

from ml_worker.bodycomp.codec import ENCODING, LABELS, encode_masks
from ml_worker.bodycomp.dicom_seg import build_tissue_seg
from ml_worker.bodycomp.dicom_sr import build_bodycomp_sr
from ml_worker.bodycomp.measure import Patient, SliceMeasurement, measure_level, measure_slice
from ml_worker.bodycomp.segmenter import Segmenter
from ml_worker.bodycomp.slices import PreparedSlice, prepare_slice
from ml_worker.bodycomp.tissues import HU_WINDOWS, TissueMasks

SCHEMA = "body-composition/1"
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class LevelRequest:
    """A level and its slices (mid-slice first or in any order; mid ± k)."""

    level: str
    sop_instance_uids: tuple[str, ...]


@dataclass(frozen=True)
class Algorithm:
    method: str
    name: str
    version: str
    sha256: str | None = None

    @property
    def trained(self) -> bool:
        return self.method == "network"


def derived_uid(*parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def patient_from_headers(
    datasets: Sequence[Dataset], given: dict[str, Any] | None
) -> tuple[Patient, dict[str, str | None]]:
    """Height, weight and sex from the job parameters, else the slices'
    de-identified headers (PatientSize in m, PatientWeight in kg, PatientSex)."""
    given = given or {}
    header = datasets[0] if datasets else Dataset()
    values: dict[str, Any] = {}
    source: dict[str, str | None] = {}
    for key, keyword in (("height_m", "PatientSize"), ("weight_kg", "PatientWeight"),
                         ("sex", "PatientSex")):  # fmt: skip
        if given.get(key) not in (None, ""):
            values[key], source[key] = given[key], "parameters"
        elif header.get(keyword) not in (None, ""):
            values[key], source[key] = header.get(keyword), "dicom"
        else:
            values[key], source[key] = None, None
    return Patient.from_values(values["height_m"], values["weight_kg"], values["sex"]), source


def measure_series(
    datasets: Sequence[Dataset],
    requests: Sequence[LevelRequest],
    segmenter: Segmenter,
    algorithm: Algorithm,
    *,
    patient: Patient,
    patient_source: dict[str, str | None],
    progress: Progress | None = None,
) -> tuple[dict[str, Any], Dataset | None, Dataset | None]:
    """The result (schema above), the SEG and the SR (None when nothing was measured)."""
    timings: dict[str, float] = {}
    started = perf_counter()
    by_uid = {str(ds.SOPInstanceUID): ds for ds in datasets}
    missing = [u for r in requests for u in r.sop_instance_uids if u not in by_uid]
    if missing:
        raise KeyError(f"slices not in the series: {', '.join(missing[:3])}")
    order = list(dict.fromkeys(u for r in requests for u in r.sop_instance_uids))
    prepared = {uid: prepare_slice(by_uid[uid]) for uid in order}
    masks: dict[str, TissueMasks] = {}
    rows: dict[str, SliceMeasurement] = {}
    for index, uid in enumerate(order):
        masks_std, rows[uid] = _segment_and_measure(prepared[uid], segmenter)
        if masks_std is not None:
            masks[uid] = masks_std.map(prepared[uid].to_stored)
        _report(progress, 0.8 * (index + 1) / len(order), f"segmented {index + 1}/{len(order)}")
    timings["segment_and_measure"] = perf_counter() - started
    levels = [measure_level(r.level, [rows[u] for u in r.sop_instance_uids], patient)
              for r in requests]  # fmt: skip
    mark = perf_counter()
    seg, sr = dicom_outputs(datasets, order, masks, levels, algorithm)
    timings["dicom"] = perf_counter() - mark
    timings["total"] = perf_counter() - started
    first = datasets[0]
    result = {
        "schema": SCHEMA,
        "study_instance_uid": str(first.StudyInstanceUID),
        "series_instance_uid": str(first.SeriesInstanceUID),
        "method": algorithm.method,
        "model": {"name": algorithm.name, "version": algorithm.version, "sha256": algorithm.sha256},
        "patient": {
            "height_m": patient.height_m,
            "weight_kg": patient.weight_kg,
            "sex": patient.sex,
            "bmi_kg_m2": None if patient.bmi is None else round(patient.bmi, 2),
            "source": patient_source,
        },
        "hu_windows": {t.key: list(w) for t, w in HU_WINDOWS.items()},
        "levels": levels,
        "masks": {
            "encoding": ENCODING,
            "labels": LABELS,
            "slices": [{"sop_instance_uid": u, **encode_masks(m)} for u, m in masks.items()],
        },
        "seg": uids_of(seg),
        "sr": uids_of(sr),
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    return result, seg, sr


def _segment_and_measure(
    item: PreparedSlice, segmenter: Segmenter
) -> tuple[TissueMasks | None, SliceMeasurement]:
    if item.issue is not None or item.spacing_mm is None:
        row = measure_slice(item.sop_instance_uid, item.hu, None, None)
        if item.issue and item.issue != row.status:
            row.status, row.issues = item.issue, [item.issue]
        return None, row
    masks = segmenter.segment(item.hu, item.spacing_mm)
    return masks, measure_slice(item.sop_instance_uid, item.hu, masks, item.spacing_mm)


def dicom_outputs(
    datasets: Sequence[Dataset],
    order: list[str],
    masks: dict[str, TissueMasks],
    levels: list[dict[str, Any]],
    algorithm: Algorithm,
    *,
    corrected: bool = False,
) -> tuple[Dataset | None, Dataset | None]:
    """The SEG and SR of the measured slices (None, None when nothing was measured)."""
    segmented = [u for u in order if u in masks and any(m.any() for m in masks[u].masks())]
    if not segmented or all(row["muscle_area_cm2"] is None for row in levels):
        return None, None
    by_uid = {str(ds.SOPInstanceUID): ds for ds in datasets}
    sources = [by_uid[u] for u in segmented]
    series = str(sources[0].SeriesInstanceUID)
    key = (series, algorithm.method, algorithm.version, *order)
    seg = build_tissue_seg(
        sources,
        [masks[u] for u in segmented],
        algorithm_name=algorithm.name,
        algorithm_version=algorithm.version,
        trained=algorithm.trained,
        corrected=corrected,
        series_instance_uid=derived_uid(*key, "seg-series"),
        sop_instance_uid=derived_uid(*key, "seg"),
    )
    sr = build_bodycomp_sr(
        sources,
        seg,
        levels,
        algorithm_name=algorithm.name,
        algorithm_version=algorithm.version,
        series_instance_uid=derived_uid(*key, "sr-series"),
        sop_instance_uid=derived_uid(*key, "sr"),
    )
    return seg, sr


def uids_of(ds: Dataset | None) -> dict[str, str] | None:
    if ds is None:
        return None
    return {
        "sop_instance_uid": str(ds.SOPInstanceUID),
        "series_instance_uid": str(ds.SeriesInstanceUID),
    }


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)

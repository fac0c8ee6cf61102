"""Phantom datasets: series on disk with a per-slice level manifest, and
training slices sampled in memory.

On disk: OUT/<centre>/<case_id>/IM0001.dcm ... (or volume.npz), plus
tissues.npz (the ground-truth tissue map), and at OUT/ manifest.jsonl (one row
per slice: path, case_id, centre, slice_index, level, scheme, z_mm) and
cases.jsonl (one row per case). Levels use the fine scheme; null marks a slice
through a disc. Identities come from `identity.make_patient`, whose sex,
height, weight and age also shape the anatomy, so body composition can be
normalised by the height written to DICOM.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ml_worker.levels import FINE_LEVELS, target_mask
from ml_worker.synthetic.anatomy import TRANSITIONAL_VARIANTS, Anatomy, make_anatomy
from ml_worker.synthetic.dicom_writer import write_ct_series
from ml_worker.synthetic.identity import make_patient, make_study
from ml_worker.synthetic.phantom import FOVS, PhantomCase, default_field_of_view, make_phantom
from ml_worker.synthetic.phantom import render_slice as _render_slice

MANIFEST_NAME = "manifest.jsonl"
CASES_NAME = "cases.jsonl"
MAX_DICOM_CASES = 99  # identity canaries must fit DICOM SH fields (index < 100)
_BODY_PART = {"chest": "CHEST", "abdomen": "ABDOMEN", "trunk": "CHEST_TO_PELVIS"}


@dataclass(frozen=True)
class CaseSpec:
    """What one case of a dataset is; derived from (dataset seed, case index) only."""

    index: int
    case_id: str
    centre: str
    seed: int
    fov: str
    transitional: str | None


def case_spec(
    index: int,
    *,
    seed: int,
    fovs: Sequence[str] = FOVS,
    transitional_fraction: float = 0.1,
    centres: Sequence[str] = ("A", "B"),
) -> CaseSpec:
    rng = np.random.default_rng([seed, index, 3])
    transitional = None
    if rng.random() < transitional_fraction:
        transitional = str(rng.choice(TRANSITIONAL_VARIANTS))
    return CaseSpec(
        index=index,
        case_id=f"case{index:04d}",
        centre=centres[index % len(centres)],
        seed=seed * 10_000 + index,
        fov=str(fovs[int(rng.integers(len(fovs)))]),
        transitional=transitional,
    )


def make_case(spec: CaseSpec, *, dataset_seed: int, **phantom_kwargs: Any) -> PhantomCase:
    """The phantom of one case, its anatomy matched to its synthetic identity."""
    patient = make_patient(spec.index, seed=dataset_seed)
    anatomy = make_anatomy(
        spec.seed,
        transitional=spec.transitional,
        sex=patient.sex,
        height_m=patient.height_m,
        bmi=patient.bmi,
        age=patient.age_years,
    )
    return make_phantom(spec.seed, fov=spec.fov, anatomy=anatomy, **phantom_kwargs)


def write_phantom_dataset(
    out_dir: Path | str,
    *,
    cases: int,
    seed: int,
    fovs: Sequence[str] = FOVS,
    transitional_fraction: float = 0.1,
    rows: int = 256,
    cols: int | None = None,
    slice_thickness_mm: float = 2.5,
    as_dicom: bool = True,
    centres: Sequence[str] = ("A", "B"),
    transfer_syntax: str = "explicit",
) -> Path:
    """Write `cases` phantom series and their manifests; returns the manifest path."""
    if as_dicom and cases > MAX_DICOM_CASES:
        raise ValueError(f"at most {MAX_DICOM_CASES} DICOM cases per dataset (identity canaries)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest, summaries = [], []
    for index in range(cases):
        spec = case_spec(
            index,
            seed=seed,
            fovs=fovs,
            transitional_fraction=transitional_fraction,
            centres=centres,
        )
        case = make_case(
            spec,
            dataset_seed=seed,
            rows=rows,
            cols=cols or rows,
            slice_thickness_mm=slice_thickness_mm,
        )
        folder = out / spec.centre / spec.case_id
        paths = _write_case(case, spec, folder, seed, as_dicom, transfer_syntax)
        np.savez_compressed(folder / "tissues.npz", tissues=case.tissues)
        for slice_index, (path, level) in enumerate(zip(paths, case.levels, strict=True)):
            manifest.append(
                {
                    "path": path.relative_to(out).as_posix(),
                    "case_id": spec.case_id,
                    "centre": spec.centre,
                    "slice_index": slice_index,
                    "level": level,
                    "scheme": "fine",
                    "z_mm": round(float(case.volume.slice_positions_mm[slice_index]), 3),
                }
            )
        summaries.append(_summary(case, spec, folder.relative_to(out).as_posix()))
    _write_jsonl(out / CASES_NAME, summaries)
    return _write_jsonl(out / MANIFEST_NAME, manifest)


def read_manifest(path: Path | str) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _write_case(
    case: PhantomCase, spec: CaseSpec, folder: Path, seed: int, as_dicom: bool, syntax: str
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    if not as_dicom:
        volume = case.volume
        path = folder / "volume.npz"
        np.savez_compressed(
            path,
            hu=volume.hu,
            slice_positions_mm=volume.slice_positions_mm,
            pixel_spacing_mm=np.asarray(volume.pixel_spacing_mm),
            slice_thickness_mm=volume.slice_thickness_mm,
        )
        return [path] * volume.shape[0]
    patient = make_patient(spec.index, seed=seed)
    # UIDs from the dataset seed too: identities repeat across datasets, series must not.
    study_uid = _uid("phantom-study", seed, spec.case_id)
    return write_ct_series(
        case.volume,
        folder,
        patient=patient,
        study=make_study(patient, seed=seed),
        study_uid=study_uid,
        series_uid=_uid("phantom-series", seed, spec.case_id),
        transfer_syntax=syntax,
        body_part=_BODY_PART[spec.fov],
    )


def _summary(case: PhantomCase, spec: CaseSpec, folder: str) -> dict[str, Any]:
    volume, anatomy = case.volume, case.anatomy
    return {
        "case_id": spec.case_id,
        "centre": spec.centre,
        "seed": spec.seed,
        "fov": spec.fov,
        "transitional": spec.transitional,
        "sex": anatomy.sex,
        "age": anatomy.age,
        "height_m": round(anatomy.height_m, 2),
        "bmi": round(anatomy.bmi, 1),
        "folder": folder,
        "tissues": f"{folder}/tissues.npz",
        "slices": volume.shape[0],
        "rows": volume.shape[1],
        "cols": volume.shape[2],
        "pixel_spacing_mm": list(volume.pixel_spacing_mm),
        "slice_thickness_mm": volume.slice_thickness_mm,
        "levels": sorted({level for level in case.levels if level}, key=_level_order(anatomy)),
    }


def _level_order(anatomy: Anatomy) -> Any:
    order = {segment.label: i for i, segment in enumerate(anatomy.segments)}
    return lambda label: order[label]


def _uid(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


# --- in-memory training slices ------------------------------------------------


@dataclass(frozen=True)
class TrainingSlice:
    hu: np.ndarray  # int16 [rows, cols]
    label: str | None  # fine label, "T13"/"L6" on transitional vertebrae, None in a disc
    z_mm: float
    patient_seed: int


class PhantomSliceDataset:
    """Random phantom slices for CPU training, rendered on demand (no files).

    Map-style, so `torch.utils.data.DataLoader` can batch it: item i is
    (HU float32 [1, rows, cols], target bool [19]), the target being
    `levels.target_mask` of the label (a transitional vertebra allows both
    neighbours; a disc slice, drawn only with include_discs, allows none).
    Items are deterministic in (seed, i); `slices_per_patient` consecutive items
    share a patient. `balanced` draws the level class uniformly first, so rare
    classes are as common as the rest.
    """

    def __init__(
        self,
        seed: int,
        n: int,
        *,
        rows: int = 256,
        cols: int | None = None,
        slices_per_patient: int = 8,
        balanced: bool = True,
        include_discs: bool = False,
        transitional_fraction: float = 0.05,
    ) -> None:
        self.seed, self.n = seed, n
        self.rows, self.cols = rows, cols or rows
        self.slices_per_patient = slices_per_patient
        self.balanced, self.include_discs = balanced, include_discs
        self.transitional_fraction = transitional_fraction

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        item = self.sample(index)
        mask = target_mask(item.label) if item.label else [False] * len(FINE_LEVELS)
        return item.hu.astype(np.float32)[None], np.asarray(mask, dtype=bool)

    def sample(self, index: int) -> TrainingSlice:
        if not 0 <= index < self.n:
            raise IndexError(index)
        patient_seed = self.seed * 1_000_003 + index // self.slices_per_patient
        anatomy, fov = _patient(patient_seed, self.transitional_fraction)
        rng = np.random.default_rng([self.seed, index, 5])
        z = _sample_z(anatomy, rng, balanced=self.balanced, include_discs=self.include_discs)
        spacing = fov / max(self.rows, self.cols)
        hu, _ = _render_slice(
            anatomy, z, rows=self.rows, cols=self.cols, pixel_spacing_mm=spacing, rng=rng
        )
        return TrainingSlice(hu, anatomy.level_at(z), z, patient_seed)


def iter_training_slices(
    seed: int, n: int, *, rows: int = 256, cols: int | None = None, **options: Any
) -> Iterator[tuple[np.ndarray, str | None]]:
    """(HU int16 [rows, cols], fine level label or None) for n random slices."""
    dataset = PhantomSliceDataset(seed, n, rows=rows, cols=cols, **options)
    for index in range(n):
        item = dataset.sample(index)
        yield item.hu, item.label


@lru_cache(maxsize=32)
def _patient(patient_seed: int, transitional_fraction: float) -> tuple[Anatomy, float]:
    rng = np.random.default_rng([patient_seed, 4])
    transitional = None
    if rng.random() < transitional_fraction:
        transitional = str(rng.choice(TRANSITIONAL_VARIANTS))
    anatomy = make_anatomy(patient_seed, transitional=transitional)
    trunk = np.linspace(anatomy.body_range("T1")[0], anatomy.body_range("S")[1], 12)
    return anatomy, default_field_of_view(anatomy, trunk, rng)


def _sample_z(
    anatomy: Anatomy, rng: np.random.Generator, *, balanced: bool, include_discs: bool
) -> float:
    """A height inside a vertebral body (or a disc); cervical from C3 down."""
    segments = [s for s in anatomy.segments if s.name not in ("C1", "C2")]
    sacral = segments[-1]
    if include_discs and rng.random() < 0.12:
        segment = segments[int(rng.integers(len(segments) - 1))]
        if segment.bottom_z - segment.next_top_z > 0.5:
            return float(rng.uniform(segment.next_top_z + 0.1, segment.bottom_z - 0.1))
    if balanced:
        labels = list(dict.fromkeys(segment.label for segment in segments))
        label = labels[int(rng.integers(len(labels)))]
        segments = [segment for segment in segments if segment.label == label]
    segment = segments[int(rng.integers(len(segments)))]
    if segment is sacral:  # the sacrum and coccyx
        return float(segment.top_z - rng.uniform(0.5, anatomy.sacrum_length + 25.0))
    return float(rng.uniform(segment.bottom_z + 0.1, segment.top_z - 0.1))

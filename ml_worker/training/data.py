"""Slice datasets for training and evaluation.

A dataset is a list of `SliceRecord`s (case, centre, slice, label in a scheme)
plus a reader that returns a slice's HU. Sources: an *exported dataset* (a
manifest, CSV or JSON lines, of DICOM instances with labels, scheme and centre,
as the platform exports verified labels; phantom datasets on disk use the same
form), *phantom series* rendered in memory at the model's input size, and a
*phantom stream* of training slices rendered on demand from new patients. All
go through `preprocess.hu_to_input`, the function inference uses, so training
and inference see identical inputs. Disc slices (label None) carry no target
and are left out.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ml_worker.levels import DISC_INDEX, FINE_LEVELS, NUM_CLASSES, SCHEMES
from ml_worker.preprocess import (
    AIR_HU,
    dataset_to_hu,
    hu_to_input,
    to_standard_orientation,
)

HUReader = Callable[["SliceRecord"], np.ndarray]

# Manifest column names, with the spellings other exporters use.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "path": ("path", "file", "file_path", "filename"),
    "case_id": ("case_id", "case", "series_uid", "study_uid"),
    "centre": ("centre", "center", "site", "institution"),
    "slice_index": ("slice_index", "index", "slice"),
    "label": ("label", "level", "level_label"),
    "scheme": ("scheme", "label_scheme"),
    "fov": ("fov", "field_of_view", "region"),
}
_REQUIRED = ("path", "case_id", "label")


@dataclass(frozen=True)
class SliceRecord:
    """One axial slice and its (possibly coarse) level label."""

    case_id: str
    centre: str
    slice_index: int
    label: str | None  # None: a disc slice, no level
    scheme: str = "fine"
    path: str = ""  # DICOM file of an exported dataset; empty for phantoms
    fov: str = ""  # chest | abdomen | trunk, when known

    def allowed(self) -> frozenset[int]:
        """The fine classes this label allows (a singleton for a fine label)."""
        if self.label is None:
            return frozenset()
        return SCHEMES[self.scheme].allowed(self.label)

    def row_key(self) -> str:
        """The per-class table row of this slice: its fine class, or the coarse
        label (with its scheme) for a set-valued one."""
        allowed = self.allowed()
        if len(allowed) == 1:
            return FINE_LEVELS[next(iter(allowed))]
        return self.label if self.scheme == "fine" else f"{self.label} ({self.scheme})"


def mask_tensor(records: Sequence[SliceRecord]) -> Tensor:
    """[N, 19] bool: the classes each record's label allows."""
    mask = torch.zeros(len(records), NUM_CLASSES, dtype=torch.bool)
    for row, record in enumerate(records):
        mask[row, sorted(record.allowed())] = True
    return mask


def labelled(records: Iterable[SliceRecord]) -> list[SliceRecord]:
    """Records with a level target (disc slices dropped)."""
    return [r for r in records if r.label is not None]


# --- Augmentation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Random geometry and intensity changes applied to HU before windowing.

    No flips: heart and liver sides are anatomy the classifier may rely on.
    """

    shift: float = 0.06  # fraction of the image side
    rotation_deg: float = 8.0
    scale: tuple[float, float] = (0.9, 1.1)
    hu_gain: float = 0.04  # HU × (1 ± gain): calibration differences between scanners
    hu_offset: float = 15.0  # ± HU
    noise_sd: float = 10.0  # up to this much extra Gaussian noise (HU)


def augment_hu(hu: np.ndarray, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """One random affine (shift, rotation, scale) and intensity jitter of a HU slice."""
    angle = math.radians(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
    zoom = rng.uniform(*aug.scale)
    tx, ty = rng.uniform(-aug.shift, aug.shift, size=2) * 2.0  # grid units span [-1, 1]
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    theta = torch.tensor([[[cos, -sin, tx], [sin, cos, ty]]], dtype=torch.float32)
    # grid_sample pads with 0, so sample HU relative to air: the border fills with air.
    image = torch.from_numpy(np.asarray(hu, dtype=np.float32) - AIR_HU)[None, None]
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    result = out[0, 0].numpy() + AIR_HU
    gain = 1.0 + rng.uniform(-aug.hu_gain, aug.hu_gain)
    result = result * gain + rng.uniform(-aug.hu_offset, aug.hu_offset)
    noise_sd = rng.uniform(0.0, aug.noise_sd)
    if noise_sd > 0:
        result += rng.standard_normal(result.shape).astype(np.float32) * noise_sd
    return result.astype(np.float32, copy=False)


# --- Dataset ------------------------------------------------------------------------------


class SliceDataset(Dataset[tuple[Tensor, Tensor]]):
    """(input [3, S, S] float32, allowed-class mask [19] bool) per labelled slice.

    Augmentation draws from a generator seeded by (seed, epoch, index), so a
    sample is the same whichever worker loads it and a resumed run repeats the
    uninterrupted one; call `set_epoch` before each epoch.
    """

    def __init__(
        self,
        records: Sequence[SliceRecord],
        read_hu: HUReader,
        input_size: int,
        *,
        augment: Augment | None = None,
        seed: int = 0,
    ) -> None:
        self.records = labelled(records)
        self.read_hu = read_hu
        self.input_size = input_size
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.masks = mask_tensor(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        hu = self.read_hu(self.records[index])
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            hu = augment_hu(hu, self.augment, rng)
        return hu_to_input(hu, self.input_size), self.masks[index]


# --- Exported datasets (manifest + DICOM) ------------------------------------------------


def read_manifest(path: Path) -> list[SliceRecord]:
    """Records of a manifest: CSV, or JSON lines (`.jsonl`, as
    `synthetic.phantom_dataset` writes). Relative file paths are taken from its folder.

    Fields: path, case_id, label or level (empty/null for a disc slice) and
    optionally centre, slice_index, scheme (default fine) and fov; a cases.jsonl
    beside the manifest supplies each case's fov when rows lack it.
    """
    path = Path(path)
    rows = _read_rows(path)
    if not rows:
        raise ValueError(f"{path} lists no slices")
    columns = _resolve_columns(list(rows[0]), path)
    fovs = _case_fovs(path.parent / "cases.jsonl")
    return [_manifest_record(row, columns, path.parent, fovs) for row in rows]


def _read_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in handle if line.strip()]
        return list(csv.DictReader(handle))


def _case_fovs(cases_file: Path) -> dict[str, str]:
    if not cases_file.is_file():
        return {}
    rows = _read_rows(cases_file)
    return {str(row["case_id"]): str(row.get("fov") or "") for row in rows if "case_id" in row}


def _resolve_columns(fieldnames: Sequence[str], path: Path) -> dict[str, str]:
    present = {name.strip().lower(): name for name in fieldnames}
    columns: dict[str, str] = {}
    for key, aliases in _COLUMNS.items():
        found = next((present[a] for a in aliases if a in present), None)
        if found is not None:
            columns[key] = found
    missing = [key for key in _REQUIRED if key not in columns]
    if missing:
        raise ValueError(f"{path} lacks field(s) {missing}; has {list(fieldnames)}")
    return columns


def _manifest_record(
    row: dict[str, Any], columns: dict[str, str], base: Path, fovs: dict[str, str]
) -> SliceRecord:
    def get(key: str, default: str = "") -> str:
        value = row.get(columns[key]) if key in columns else None
        return default if value is None else str(value).strip() or default

    file_path = Path(get("path"))
    label = get("label")
    case_id = get("case_id")
    record = SliceRecord(
        case_id=case_id,
        centre=get("centre", "unknown"),
        slice_index=int(get("slice_index", "0")),
        label=None if label in ("", "None", "null", "disc") else label,
        scheme=get("scheme", "fine"),
        path=str(file_path if file_path.is_absolute() else base / file_path),
        fov=get("fov", fovs.get(case_id, "")),
    )
    record.allowed()  # refuse a label its scheme does not know, at load time
    return record


def read_file_hu(record: SliceRecord) -> np.ndarray:
    """HU of a record's slice in the standard orientation, as inference reads it:
    a DICOM file, or slice `slice_index` of a phantom volume.npz."""
    if record.path.endswith(".npz"):
        return _npz_volume(record.path)[record.slice_index].astype(np.float32)
    ds = pydicom.dcmread(record.path)
    orientation = [float(v) for v in ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])]
    return to_standard_orientation(dataset_to_hu(ds), orientation)


@lru_cache(maxsize=8)
def _npz_volume(path: str) -> np.ndarray:
    with np.load(path) as data:
        return np.asarray(data["hu"])


# --- Phantoms in memory -------------------------------------------------------------------


@dataclass(frozen=True)
class PhantomSpec:
    """Phantom cases as `synthetic.phantom_dataset.case_spec` defines them (case
    ids, centres, fields of view, transitional spines), rendered at the model's
    input size so nothing is resized. Body build comes from the case seed, not
    a DICOM identity, so a run is not capped at the 99 identities a DICOM
    dataset allows."""

    n_cases: int
    seed: int = 0
    size: int = 128
    slice_thickness_mm: float = 5.0
    centres: tuple[str, ...] = ("A", "B", "C")


class PhantomVolumes:
    """HU volumes of rendered phantom cases by case id: the reader of their records."""

    def __init__(self) -> None:
        self.volumes: dict[str, np.ndarray] = {}

    def __call__(self, record: SliceRecord) -> np.ndarray:
        return self.volumes[record.case_id][record.slice_index].astype(np.float32)


def render_phantoms(
    spec: PhantomSpec, *, progress: Callable[[int, int], None] | None = None
) -> tuple[list[SliceRecord], PhantomVolumes]:
    """Render `spec.n_cases` phantom series in memory and list their slices with
    exact level labels (None in discs; T13/L6 on transitional vertebrae)."""
    # Imported here: only phantom runs need the renderer.
    from ml_worker.synthetic.anatomy import make_anatomy
    from ml_worker.synthetic.phantom import make_phantom
    from ml_worker.synthetic.phantom_dataset import case_spec

    volumes = PhantomVolumes()
    records: list[SliceRecord] = []
    for index in range(spec.n_cases):
        case = case_spec(index, seed=spec.seed, centres=spec.centres)
        phantom = make_phantom(
            case.seed, fov=case.fov, rows=spec.size, cols=spec.size,
            slice_thickness_mm=spec.slice_thickness_mm,
            anatomy=make_anatomy(case.seed, transitional=case.transitional),
        )  # fmt: skip
        volumes.volumes[case.case_id] = np.asarray(phantom.volume.hu, dtype=np.int16)
        records += [
            SliceRecord(case.case_id, case.centre, i, label, "fine", fov=case.fov)
            for i, label in enumerate(phantom.levels)
        ]
        if progress is not None:
            progress(index + 1, spec.n_cases)
    return records, volumes


def load_source(
    spec: str,
    *,
    size: int,
    phantom_seed: int = 0,
    slice_thickness_mm: float = 5.0,
    centres: Sequence[str] = ("A", "B", "C"),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[SliceRecord], HUReader]:
    """Records and their reader for `--data`: "phantom:N" renders N phantom cases
    in memory at `size` px; anything else is a manifest (CSV or JSONL) of files."""
    if spec.startswith("phantom:"):
        n_cases = int(spec.removeprefix("phantom:"))
        phantom = PhantomSpec(
            n_cases, seed=phantom_seed, size=size, slice_thickness_mm=slice_thickness_mm,
            centres=tuple(centres),
        )  # fmt: skip
        return render_phantoms(phantom, progress=progress)
    return read_manifest(Path(spec)), read_file_hu


class PhantomStream(Dataset[tuple[Tensor, Tensor]]):
    """Training slices rendered on demand at the input size from ever new phantom
    patients (`synthetic.phantom_dataset.PhantomSliceDataset`): the level is
    drawn uniformly per slice, so classes are balanced by construction, and a
    network never sees the same patient twice, so it cannot overfit to them.

    Epoch e serves items [e·n, (e+1)·n) of the generator. Patient seeds are
    seed·1_000_003 + k; series cases of dataset seed s use s·10_000 + i, so a
    stream seeded s + 1 never meets the validation or test patients of s.
    """

    def __init__(
        self,
        seed: int,
        samples_per_epoch: int,
        input_size: int,
        *,
        augment: Augment | None = None,
        slices_per_patient: int = 8,
        disc_output: bool = False,
    ) -> None:
        from ml_worker.synthetic.phantom_dataset import PhantomSliceDataset

        # With a disc output, disc slices train it (their truth is exact in a phantom).
        self.source = PhantomSliceDataset(
            seed, 10**12, rows=input_size, slices_per_patient=slices_per_patient, balanced=True,
            include_discs=disc_output,
        )  # fmt: skip
        self.disc_output = disc_output
        self.seed = seed
        self.samples_per_epoch = samples_per_epoch
        self.input_size = input_size
        self.augment = augment
        self.epoch = 0

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        item = self.source.sample(self.epoch * self.samples_per_epoch + index)
        hu = item.hu.astype(np.float32)
        if self.augment is not None:
            hu = augment_hu(hu, self.augment, np.random.default_rng([self.seed, self.epoch, index]))
        mask = SCHEMES["fine"].allowed(item.label) if item.label else {DISC_INDEX}
        target = torch.zeros(NUM_CLASSES + int(self.disc_output), dtype=torch.bool)
        target[sorted(mask)] = True
        return hu_to_input(hu, self.input_size), target

    def summary(self) -> dict[str, Any]:
        per_patient = self.source.slices_per_patient
        return {
            "source": "phantom slices rendered on demand (synthetic.phantom_dataset)",
            "seed": self.seed,
            "slices_per_epoch": self.samples_per_epoch,
            "patients_per_epoch": -(-self.samples_per_epoch // per_patient),
            "sampling": "level uniform per slice (balanced); "
            + ("discs train the disc output" if self.disc_output else "discs excluded"),
            "transitional_fraction": self.source.transitional_fraction,
        }


# --- Splits -------------------------------------------------------------------------------


def split_by_case(
    records: Sequence[SliceRecord], fractions: Sequence[float], seed: int = 0
) -> list[list[SliceRecord]]:
    """Partition by case (a patient never spans two parts): the first part gets
    what the `fractions` of the later parts leave; every later part with a
    positive fraction gets at least one case. Cases are shuffled within each
    centre and dealt out per centre, so each part draws from every centre."""
    by_centre: dict[str, list[str]] = defaultdict(list)
    for case_id, centre in _case_centres(records).items():
        by_centre[centre].append(case_id)
    rng = np.random.default_rng(seed)
    assignment: dict[str, int] = {}
    for centre in sorted(by_centre):
        cases = sorted(by_centre[centre])
        for rank, index in enumerate(rng.permutation(len(cases))):
            assignment[cases[index]] = _part_of(rank, len(cases), fractions)
    _ensure_nonempty(assignment, fractions, rng)
    parts: list[list[SliceRecord]] = [[] for _ in range(len(fractions) + 1)]
    for record in records:
        parts[assignment[record.case_id]].append(record)
    return parts


def _case_centres(records: Sequence[SliceRecord]) -> dict[str, str]:
    centres: dict[str, str] = {}
    for record in records:
        if centres.setdefault(record.case_id, record.centre) != record.centre:
            raise ValueError(f"case {record.case_id} appears under two centres")
    return centres


def _part_of(rank: int, n: int, fractions: Sequence[float]) -> int:
    """Ranks 0.. go to the later parts by their fractions, the rest to part 0."""
    edge = 0.0
    for part, fraction in enumerate(fractions, start=1):
        edge += fraction * n
        if rank < round(edge):
            return part
    return 0


def _ensure_nonempty(
    assignment: dict[str, int], fractions: Sequence[float], rng: np.random.Generator
) -> None:
    for part, fraction in enumerate(fractions, start=1):
        if fraction <= 0 or part in assignment.values():
            continue
        donors = sorted(c for c, p in assignment.items() if p == 0)
        if len(donors) < 2:
            raise ValueError("too few cases to give every split at least one")
        assignment[donors[int(rng.integers(len(donors)))]] = part


def split_by_centre(
    records: Sequence[SliceRecord], held_out: Collection[str]
) -> tuple[list[SliceRecord], dict[str, list[SliceRecord]]]:
    """(records of the other centres, {held-out centre: its records}) for external validation."""
    unknown = set(held_out) - {r.centre for r in records}
    if unknown:
        raise ValueError(f"no slices from centre(s) {sorted(unknown)}")
    kept = [r for r in records if r.centre not in held_out]
    external = {c: [r for r in records if r.centre == c] for c in sorted(held_out)}
    return kept, external


# --- Class balance ------------------------------------------------------------------------


def balance_weights(records: Sequence[SliceRecord]) -> Tensor:
    """Per-record sampling weight ∝ 1 / frequency of its label's allowed set, so
    every class (and every coarse label) is drawn about equally often."""
    keys = [r.allowed() for r in records]
    counts = Counter(keys)
    return torch.tensor([1.0 / counts[k] for k in keys], dtype=torch.double)


def class_loss_weights(records: Sequence[SliceRecord]) -> Tensor:
    """[19] inverse-frequency class weights, normalised to mean 1 over present
    classes; a coarse label spreads its count evenly over its allowed set."""
    counts = torch.zeros(NUM_CLASSES, dtype=torch.double)
    for record in records:
        allowed = sorted(record.allowed())
        counts[allowed] += 1.0 / len(allowed)
    weights = torch.where(counts > 0, 1.0 / counts.clamp(min=1e-12), torch.zeros_like(counts))
    present = counts > 0
    weights[present] /= weights[present].mean()
    return weights.float()


# --- Summaries ----------------------------------------------------------------------------


def data_summary(records: Sequence[SliceRecord]) -> dict[str, Any]:
    """Counts a model version records about its data: cases per centre and fov,
    labelled slices per table row, and how many disc slices were left out."""
    cases = {r.case_id: (r.centre, r.fov or "unknown") for r in records}
    rows = Counter(r.row_key() for r in records if r.label is not None)
    return {
        "cases": len(cases),
        "cases_per_centre": dict(sorted(Counter(c for c, _ in cases.values()).items())),
        "cases_per_fov": dict(sorted(Counter(f for _, f in cases.values()).items())),
        "slices": sum(rows.values()),
        "disc_slices_excluded": sum(1 for r in records if r.label is None),
        "slices_per_class": {key: rows[key] for key in table_row_order(rows)},
    }


def table_row_order(keys: Iterable[str]) -> list[str]:
    """Fine classes in anatomical order, then set-valued labels alphabetically."""
    present = set(keys)
    fine = [name for name in FINE_LEVELS if name in present]
    return fine + sorted(present - set(FINE_LEVELS))

"""Training data for the segmentation network.

Two sources, both giving `SegSample`s (HU and a label map in standard
orientation, the pixel spacing, the case and centre for splitting):

- `phantom:N` - N axial slices of anatomical phantoms (ml_worker.synthetic)
  at levels T12-L4 with their exact tissue masks; random patients, pixel
  sizes and fields of view.
- a manifest CSV, the format the platform exports verified masks in:

      image,mask,case,centre,level
      cases/0001/IM0042.dcm,cases/0001/IM0042.npz,0001,A,L3

  `image`: one CT slice (DICOM), `mask`: a .npz with an array "labels" (or a
  .npy), uint8 [Rows, Columns] in the image's stored pixel grid with values
  0 background, 1 skeletal muscle, 2 IMAT, 3 SAT, 4 VAT (`Tissue`). Paths are
  relative to the manifest. `case` groups slices of one patient so a split
  never divides them; `centre` and `level` are optional.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import torch
from torch.utils.data import Dataset

from ml_worker.bodycomp.network import labels_to_input_grid, net_input
from ml_worker.bodycomp.slices import prepare_slice
from ml_worker.bodycomp.tissues import TISSUES
from ml_worker.preprocess import to_standard_orientation

PHANTOM_LEVELS = ("T12", "L1", "L2", "L3", "L4")


@dataclass(frozen=True, eq=False)
class SegSample:
    hu: np.ndarray  # float32 [H, W], standard orientation
    labels: np.ndarray  # uint8 [H, W], `Tissue` values, 0 background
    spacing_mm: tuple[float, float]
    case: str
    centre: str = ""
    level: str = ""


def load_samples(source: str, *, seed: int = 0) -> list[SegSample]:
    """`phantom:N` or a manifest path."""
    if source.startswith("phantom:"):
        return phantom_samples(int(source.split(":", 1)[1]), seed=seed)
    return manifest_samples(Path(source))


def phantom_samples(
    count: int, *, seed: int = 0, levels: Sequence[str] = PHANTOM_LEVELS, size: int = 192
) -> list[SegSample]:
    """`count` phantom slices, 4 per patient, of `size` pixels square."""
    from ml_worker.synthetic import make_anatomy, render_slice

    samples: list[SegSample] = []
    patient = 0
    while len(samples) < count:
        anatomy = make_anatomy(seed * 100_003 + patient)
        rng = np.random.default_rng([seed, patient])
        spacing = float(rng.uniform(360.0, 480.0)) / size
        for _ in range(min(4, count - len(samples))):
            level = str(rng.choice(list(levels)))
            z = float(rng.uniform(*reversed(anatomy.body_range(level))))
            hu, tissues = render_slice(
                anatomy, z, rows=size, cols=size, pixel_spacing_mm=spacing, rng=rng
            )
            labels = np.where(tissues <= max(TISSUES), tissues, 0).astype(np.uint8)
            case = f"phantom-{seed}-{patient}"
            samples.append(SegSample(hu.astype(np.float32), labels, (spacing, spacing), case,
                                     "phantom", level))  # fmt: skip
        patient += 1
    return samples


def manifest_samples(path: Path) -> list[SegSample]:
    base = Path(path).parent
    samples = []
    with Path(path).open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                samples.append(_manifest_sample(base, row))
            except (KeyError, ValueError, OSError) as exc:
                raise ValueError(f"{path}:{line}: {exc}") from exc
    return samples


def _manifest_sample(base: Path, row: dict[str, str]) -> SegSample:
    ds = pydicom.dcmread(base / row["image"])
    item = prepare_slice(ds)
    if item.issue or item.spacing_mm is None:
        raise ValueError(f"{row['image']}: {item.issue}")
    labels = _read_labels(base / row["mask"])
    if labels.shape != (int(ds.Rows), int(ds.Columns)) or labels.max(initial=0) > max(TISSUES):
        raise ValueError(f"{row['mask']}: not a label map of the image's shape with values 0-4")
    labels = to_standard_orientation(labels, [float(v) for v in ds.ImageOrientationPatient])
    case = row.get("case") or str(ds.get("PatientID", row["image"]))
    return SegSample(item.hu, labels.astype(np.uint8), item.spacing_mm, case,
                     row.get("centre", ""), row.get("level", ""))  # fmt: skip


def _read_labels(path: Path) -> np.ndarray:
    if path.suffix == ".npz":
        with np.load(path) as archive:
            return np.asarray(archive["labels"])
    return np.asarray(np.load(path))


def split_by_case(
    samples: Sequence[SegSample], val_fraction: float, *, seed: int = 0
) -> tuple[list[SegSample], list[SegSample]]:
    cases = sorted({s.case for s in samples})
    rng = np.random.default_rng(seed)
    rng.shuffle(cases)
    n_val = max(1, round(len(cases) * val_fraction)) if len(cases) > 1 else 0
    val_cases = set(cases[:n_val])
    return [s for s in samples if s.case not in val_cases], [
        s for s in samples if s.case in val_cases
    ]


def data_summary(samples: Sequence[SegSample]) -> dict[str, Any]:
    return {
        "slices": len(samples),
        "cases": len({s.case for s in samples}),
        "centres": sorted({s.centre for s in samples}),
        "levels": {
            lv: sum(s.level == lv for s in samples) for lv in sorted({s.level for s in samples})
        },
    }


class SegDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Network inputs and targets on the input grid; `augment` flips left-right."""

    def __init__(self, samples: Sequence[SegSample], size: int, *, augment: bool = False) -> None:
        self.samples = list(samples)
        self.size = size
        self.augment = augment
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index not in self._cache:
            sample = self.samples[index]
            self._cache[index] = (
                net_input(sample.hu, self.size),
                labels_to_input_grid(sample.labels, self.size),
            )
        x, y = self._cache[index]
        if self.augment and torch.rand(()) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        return x, y

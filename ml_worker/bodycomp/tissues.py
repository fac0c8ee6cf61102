"""The four body-composition tissues, their HU windows and `TissueMasks`, the
contract every segmenter returns.

HU windows are the published ones the architecture notes name: skeletal muscle
-29..150, intermuscular and subcutaneous fat -190..-30 (Mitsiopoulos et al.
1998, J Appl Physiol 85:115), visceral fat -150..-50 (Mourtzakis et al. 2008,
Appl Physiol Nutr Metab 33:997, which uses all three). Inclusive at both ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Tissue(IntEnum):
    """Label values of a tissue label map (0 is background)."""

    MUSCLE = 1  # skeletal muscle
    IMAT = 2  # intermuscular (and intramuscular) adipose tissue
    SAT = 3  # subcutaneous adipose tissue
    VAT = 4  # visceral adipose tissue

    @property
    def key(self) -> str:
        return self.name.lower()


TISSUES: tuple[Tissue, ...] = tuple(Tissue)
TISSUE_NAMES: dict[Tissue, str] = {
    Tissue.MUSCLE: "Skeletal muscle",
    Tissue.IMAT: "Intermuscular adipose tissue",
    Tissue.SAT: "Subcutaneous adipose tissue",
    Tissue.VAT: "Visceral adipose tissue",
}

MUSCLE_HU = (-29.0, 150.0)
FAT_HU = (-190.0, -30.0)  # intermuscular and subcutaneous fat
VAT_HU = (-150.0, -50.0)
HU_WINDOWS: dict[Tissue, tuple[float, float]] = {
    Tissue.MUSCLE: MUSCLE_HU,
    Tissue.IMAT: FAT_HU,
    Tissue.SAT: FAT_HU,
    Tissue.VAT: VAT_HU,
}


def in_window(hu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    low, high = window
    return (hu >= low) & (hu <= high)


@dataclass(frozen=True, eq=False)
class TissueMasks:
    """Boolean [H, W] masks of one slice, mutually exclusive, in the pixel grid
    of the HU array they were computed from."""

    muscle: np.ndarray
    imat: np.ndarray
    sat: np.ndarray
    vat: np.ndarray

    def __post_init__(self) -> None:
        shapes = {m.shape for m in self.masks()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError("tissue masks must be 2-D and of one shape")
        for mask in self.masks():
            if mask.dtype != np.bool_:
                raise ValueError("tissue masks must be boolean")

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.muscle.shape
        return rows, cols

    def masks(self) -> tuple[np.ndarray, ...]:
        return self.muscle, self.imat, self.sat, self.vat

    def get(self, tissue: Tissue) -> np.ndarray:
        mask: np.ndarray = getattr(self, tissue.key)
        return mask

    def label_map(self) -> np.ndarray:
        """uint8 [H, W] of `Tissue` values; a later tissue wins an overlap."""
        labels = np.zeros(self.shape, dtype=np.uint8)
        for tissue in TISSUES:
            labels[self.get(tissue)] = tissue
        return labels

    @classmethod
    def from_label_map(cls, labels: np.ndarray) -> TissueMasks:
        return cls(**{t.key: np.asarray(labels) == t for t in TISSUES})

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> TissueMasks:
        return cls(**{t.key: np.zeros(shape, dtype=bool) for t in TISSUES})

    def map(self, transform: Callable[[np.ndarray], np.ndarray]) -> TissueMasks:
        """The masks through a pixel-grid transform (e.g. back to stored orientation)."""
        return TissueMasks(**{t.key: transform(self.get(t)) for t in TISSUES})

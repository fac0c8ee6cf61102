"""Synthetic CT volumes in Hounsfield units, independent of any file format.

The phantom is deliberately simple (one trunk cross-section with a vertebra);
later anatomy work replaces `make_ct_volume` while `CTVolume` stays the contract
that the DICOM writer consumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

HU_MIN = -1024  # lowest value a scanner stores with intercept -1024
HU_MAX = 3071  # highest value in 12 stored bits with intercept -1024

# Phantom tissue values (HU), within the ranges the body-composition code thresholds.
AIR_HU = -1000
FAT_HU = -100
MUSCLE_HU = 40
VISCERA_HU = 30
CSF_HU = 15
DISC_HU = 80
CANCELLOUS_HU = 300
CORTICAL_HU = 700
NOISE_SD_HU = 12.0


@dataclass(frozen=True, eq=False)
class CTVolume:
    """An axial CT stack; slice 0 is the most superior (largest z).

    `pixel_spacing_mm` is (row spacing, column spacing), the DICOM PixelSpacing
    order. Arrays are stored as read-only views so a frozen volume stays frozen.
    """

    hu: np.ndarray
    pixel_spacing_mm: tuple[float, float]
    slice_thickness_mm: float
    slice_positions_mm: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.hu.ndim != 3 or self.hu.dtype != np.int16:
            raise ValueError("hu must be an int16 array of shape [slices, rows, cols]")
        positions = np.asarray(self.slice_positions_mm, dtype=np.float64)
        if positions.shape != (self.hu.shape[0],):
            raise ValueError("slice_positions_mm needs one z position per slice")
        if positions.size > 1 and not np.all(np.diff(positions) < 0):
            raise ValueError("slice_positions_mm must strictly decrease (superior first)")
        object.__setattr__(self, "hu", _read_only(self.hu))
        object.__setattr__(self, "slice_positions_mm", _read_only(positions))

    @property
    def shape(self) -> tuple[int, int, int]:
        n_slices, rows, cols = self.hu.shape
        return n_slices, rows, cols


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def make_ct_volume(
    *,
    n_slices: int = 60,
    rows: int = 256,
    cols: int = 256,
    slice_thickness_mm: float = 2.5,
    field_of_view_mm: float = 400.0,
    seed: int = 0,
) -> CTVolume:
    """Build a deterministic trunk phantom; anatomy is sized in mm, not pixels.

    Sizing in mm keeps tiny test volumes (e.g. 8x64x64) anatomically similar to
    full-size ones, only coarser.
    """
    spacing = field_of_view_mm / max(rows, cols)
    y_mm = (np.arange(rows) - (rows - 1) / 2) * spacing
    x_mm = (np.arange(cols) - (cols - 1) / 2) * spacing
    yy, xx = np.meshgrid(y_mm, x_mm, indexing="ij")
    z_top = (n_slices - 1) * slice_thickness_mm / 2
    positions = z_top - np.arange(n_slices) * slice_thickness_mm

    hu = np.empty((n_slices, rows, cols), dtype=np.float32)
    for index, z in enumerate(positions):
        hu[index] = _trunk_slice(xx, yy, float(z))
    rng = np.random.default_rng(seed)
    hu += NOISE_SD_HU * rng.standard_normal(size=hu.shape, dtype=np.float32)
    hu_int = np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16)
    return CTVolume(
        hu=hu_int,
        pixel_spacing_mm=(spacing, spacing),
        slice_thickness_mm=slice_thickness_mm,
        slice_positions_mm=positions,
        meta={"generator": "ml_worker.synthetic.make_ct_volume", "seed": seed},
    )


def _ellipse(
    xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, a: float, b: float
) -> np.ndarray:
    return ((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1.0


def _trunk_slice(xx: np.ndarray, yy: np.ndarray, z: float) -> np.ndarray:
    """One axial slice; y grows posteriorly (DICOM LPS), so the spine sits at +y."""
    # The trunk widens and narrows gently along z, like a real abdomen.
    a = 150.0 + 10.0 * np.sin(2 * np.pi * z / 400.0)
    b = 105.0 + 6.0 * np.cos(2 * np.pi * z / 300.0)
    out = np.full(xx.shape, AIR_HU, dtype=np.float32)
    out[_ellipse(xx, yy, 0, 0, a, b)] = FAT_HU
    out[_ellipse(xx, yy, 0, 0, a - 20, b - 20)] = MUSCLE_HU
    out[_ellipse(xx, yy, 0, 0, a - 32, b - 32)] = VISCERA_HU
    for side in (-1.0, 1.0):
        out[_ellipse(xx, yy, side * 30, 62, 20, 14)] = MUSCLE_HU
    # Vertebral bodies ~30 mm apart with ~8 mm discs between them.
    in_disc = (z % 30.0) < 8.0
    body_radius = 20.0
    if in_disc:
        out[_ellipse(xx, yy, 0, 30, body_radius, body_radius)] = DISC_HU
    else:
        out[_ellipse(xx, yy, 0, 30, body_radius, body_radius)] = CORTICAL_HU
        inner = body_radius - 3.0
        out[_ellipse(xx, yy, 0, 30, inner, inner)] = CANCELLOUS_HU + 40 * np.sin(z / 25.0)
    out[_ellipse(xx, yy, 0, 58, 8, 8)] = CSF_HU
    return out

"""Anatomical CT phantom: axial slices whose anatomy depends on the spine level,
with exact per-slice level labels and tissue masks.

`render_slice` paints one axial section of an `Anatomy` (see `anatomy`) into a
map of structure ids with vectorised numpy on a mm grid, then turns it into a
tissue map and HU. `make_phantom` stacks slices over a chest, abdomen or trunk
field of view into a `CTVolume` that `write_ct_series` can write as DICOM.

HU are built so that thresholding at the published ranges recovers the tissue
masks exactly: each tissue's HU are clamped, after the partial-volume blur, to
its range shrunk by the largest noise, and the noise is bounded (3 sigma).

This module holds that public API and the HU rendering; the label tables live
in `phantom_tissues`, the drawing surface in `phantom_canvas`, and the painters
in `phantom_body`, `phantom_thorax`, `phantom_abdomen` and `phantom_skeleton`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ml_worker.synthetic.anatomy import Anatomy, Section, make_anatomy, section
from ml_worker.synthetic.phantom_abdomen import _paint_abdomen, _paint_bowel
from ml_worker.synthetic.phantom_body import _outline, _paint_body, _paint_muscles
from ml_worker.synthetic.phantom_canvas import _Canvas
from ml_worker.synthetic.phantom_skeleton import _paint_girdles, _paint_ribs, _paint_spine
from ml_worker.synthetic.phantom_thorax import _paint_airway_and_vessels, _paint_thorax
from ml_worker.synthetic.phantom_tissues import COMPARTMENTS, HU_WINDOWS, ID, STRUCTURES, Tissue
from ml_worker.synthetic.volume import HU_MAX, HU_MIN, CTVolume

__all__ = [
    "COMPARTMENTS",
    "FOVS",
    "HU_WINDOWS",
    "ID",
    "STRUCTURES",
    "PhantomCase",
    "Tissue",
    "default_field_of_view",
    "make_phantom",
    "render_parts",
    "render_slice",
    "render_structures",
]


FOVS = ("chest", "abdomen", "trunk")
# Field of view along z: (segment name, offset range in level units) of the
# first and last slice; the sacral segment spans one unit of its own length.
_FOV_ENDS: dict[str, tuple[tuple[str, float, float], tuple[str, float, float]]] = {
    "chest": (("C7", -0.3, 0.3), ("L1", 0.45, 0.75)),
    "abdomen": (("T10", -0.5, 0.4), ("S", 0.6, 1.3)),
    "trunk": (("C5", 0.0, 0.6), ("S", 0.6, 1.3)),
}


@dataclass(frozen=True, eq=False)
class PhantomCase:
    """A phantom CT series with its ground truth."""

    volume: CTVolume
    levels: list[str | None]  # per slice; None where the slice centre is in a disc
    tissues: np.ndarray  # uint8 [slices, rows, cols] of Tissue codes
    anatomy: Anatomy
    meta: dict[str, Any] = field(default_factory=dict)


def render_slice(
    anatomy: Anatomy,
    z_mm: float,
    *,
    rows: int,
    cols: int,
    pixel_spacing_mm: float | tuple[float, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One axial slice at height z: (HU int16 [rows, cols], Tissue uint8 [rows, cols])."""
    ids = render_structures(anatomy, z_mm, rows=rows, cols=cols, pixel_spacing_mm=pixel_spacing_mm)
    tissue_lut, hu_lut = _luts(anatomy)
    tissues = tissue_lut[ids]
    hu = _blur(hu_lut[ids], _spacing(pixel_spacing_mm))
    # Clamp after the blur so partial volume never carries a pixel out of its
    # tissue's window, then add bounded noise.
    margin = 3.0 * anatomy.noise_sd + 1.0
    lo, hi = _window_arrays(margin)
    np.clip(hu, lo[tissues], hi[tissues], out=hu)
    noise = rng.standard_normal(hu.shape, dtype=np.float32)
    np.clip(noise, -3.0, 3.0, out=noise)
    hu += noise * np.float32(anatomy.noise_sd)
    return np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16), tissues


def render_structures(
    anatomy: Anatomy,
    z_mm: float,
    *,
    rows: int,
    cols: int,
    pixel_spacing_mm: float | tuple[float, float],
) -> np.ndarray:
    """The structure-id map (uint8, see `STRUCTURES`) of one slice, before HU."""
    spacing = _spacing(pixel_spacing_mm)
    canvas = _Canvas(rows, cols, spacing, anatomy.centre)
    _paint(canvas, anatomy, section(anatomy, z_mm))
    return canvas.ids


def render_parts(
    anatomy: Anatomy,
    z_mm: float,
    *,
    rows: int,
    cols: int,
    pixel_spacing_mm: float | tuple[float, float],
) -> dict[str, np.ndarray]:
    """Boolean masks of the named structures present in one slice (for tests
    and quality checks): e.g. "rib_cortex", "rib_head", "vb_marrow", "iliac_cortex"."""
    ids = render_structures(anatomy, z_mm, rows=rows, cols=cols, pixel_spacing_mm=pixel_spacing_mm)
    return {STRUCTURES[i][0]: ids == i for i in np.unique(ids)}


def make_phantom(
    seed: int,
    *,
    fov: str = "trunk",
    rows: int = 256,
    cols: int = 256,
    slice_thickness_mm: float = 2.5,
    field_of_view_mm: float | None = None,
    transitional: str | None = None,
    z_shift_mm: float | None = None,
    anatomy: Anatomy | None = None,
) -> PhantomCase:
    """A deterministic phantom series; slice 0 is the most superior.

    The z range starts and ends at random positions within the vertebrae that
    define `fov` (chest C7-L1, abdomen T10-pelvis, trunk C5-pelvis), then moves
    by `z_shift_mm` (default: uniform +-5 mm); `field_of_view_mm` (in-plane)
    defaults to a per-patient draw so the body fills the image differently.
    """
    if fov not in FOVS:
        raise ValueError(f"fov must be one of {FOVS}")
    anatomy = anatomy or make_anatomy(seed, transitional=transitional)
    rng = np.random.default_rng([seed, 1])
    z_top, z_bottom = _fov_z(anatomy, fov, rng)
    shift = float(rng.uniform(-5.0, 5.0)) if z_shift_mm is None else float(z_shift_mm)
    n_slices = int((z_top - z_bottom) // slice_thickness_mm) + 1
    positions = z_top + shift - slice_thickness_mm * np.arange(n_slices)
    extent = field_of_view_mm or default_field_of_view(anatomy, positions, rng)
    spacing = extent / max(rows, cols)
    noise_rng = np.random.default_rng([seed, 2])
    hu = np.empty((n_slices, rows, cols), dtype=np.int16)
    tissues = np.empty((n_slices, rows, cols), dtype=np.uint8)
    for index, z in enumerate(positions):
        hu[index], tissues[index] = render_slice(
            anatomy, float(z), rows=rows, cols=cols, pixel_spacing_mm=spacing, rng=noise_rng
        )
    meta = {
        "generator": "ml_worker.synthetic.phantom",
        "seed": seed,
        "fov": fov,
        "transitional": anatomy.transitional,
        "sex": anatomy.sex,
        "field_of_view_mm": extent,
        "z_shift_mm": shift,
    }
    volume = CTVolume(hu, (spacing, spacing), slice_thickness_mm, positions, meta=dict(meta))
    levels = [anatomy.level_at(float(z)) for z in positions]
    return PhantomCase(volume, levels, tissues, anatomy, meta)


def default_field_of_view(
    anatomy: Anatomy, positions: np.ndarray, rng: np.random.Generator
) -> float:
    """A reconstruction diameter that fits the widest part of the body, or more."""
    widest = max(_half_width(anatomy, float(z)) for z in positions[:: max(len(positions) // 12, 1)])
    return float(np.clip(2.0 * widest * rng.uniform(1.06, 1.4), 320.0, 500.0))


def _half_width(anatomy: Anatomy, z: float) -> float:
    sec = section(anatomy, z)
    return sec.a + sec.sat_lat + abs(anatomy.centre[0])


def _fov_z(anatomy: Anatomy, fov: str, rng: np.random.Generator) -> tuple[float, float]:
    names = [segment.name for segment in anatomy.segments]
    ends = []
    for name, low, high in _FOV_ENDS[fov]:
        ends.append(anatomy.z_of_u(names.index(name) + float(rng.uniform(low, high))))
    return ends[0], ends[1]


def _spacing(pixel_spacing_mm: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(pixel_spacing_mm, tuple):
        return float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1])
    return float(pixel_spacing_mm), float(pixel_spacing_mm)


def _luts(anatomy: Anatomy) -> tuple[np.ndarray, np.ndarray]:
    tissue = np.zeros(256, dtype=np.uint8)
    hu = np.full(256, anatomy.materials["air"], dtype=np.float32)
    for index, (_, code, material) in enumerate(STRUCTURES):
        tissue[index] = code
        hu[index] = anatomy.materials[material]
    return tissue, hu


@lru_cache(maxsize=16)
def _window_arrays(margin: float) -> tuple[np.ndarray, np.ndarray]:
    lo = np.zeros(len(Tissue), dtype=np.float32)
    hi = np.zeros(len(Tissue), dtype=np.float32)
    for tissue, (low, high) in HU_WINDOWS.items():
        lo[tissue] = low + margin if low > HU_MIN else HU_MIN
        hi[tissue] = high - margin if high < HU_MAX else HU_MAX
    return lo, hi


def _blur(image: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """Slight partial-volume blur: a [w, 1 - 2w, w] kernel per axis whose width
    is fixed in mm (sigma ~0.6 mm), so coarse grids are not smeared more."""
    out = image
    for axis, step in enumerate(spacing):
        w = np.float32(min(0.18 / step**2, 0.25))
        if w < 0.005:
            continue
        src = out
        out = src * (1 - 2 * w)
        head, tail = [slice(None)] * 2, [slice(None)] * 2
        head[axis], tail[axis] = slice(1, None), slice(None, -1)
        out[tuple(head)] += w * src[tuple(tail)]
        out[tuple(tail)] += w * src[tuple(head)]
        edge_lo, edge_hi = [slice(None)] * 2, [slice(None)] * 2
        edge_lo[axis], edge_hi[axis] = slice(0, 1), slice(-1, None)
        out[tuple(edge_lo)] += w * src[tuple(edge_lo)]
        out[tuple(edge_hi)] += w * src[tuple(edge_hi)]
    return out


def _paint(cv: _Canvas, an: Anatomy, sec: Section) -> None:
    out = _outline(an, sec)
    _paint_body(cv, an, sec, out)
    _paint_thorax(cv, an, sec, out)
    _paint_airway_and_vessels(cv, an, sec, out)
    _paint_muscles(cv, an, sec, out)
    _paint_abdomen(cv, an, sec, out)
    _paint_bowel(cv, an, sec, out)
    _paint_ribs(cv, an, sec, out)
    _paint_spine(cv, an, sec)
    _paint_girdles(cv, an, sec, out)

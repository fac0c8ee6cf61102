"""Anatomical CT phantom: axial slices whose anatomy depends on the spine level,
with exact per-slice level labels and tissue masks.

`render_slice` paints one axial section of an `Anatomy` (see `anatomy`) into a
map of structure ids with vectorised numpy on a mm grid, then turns it into a
tissue map and HU. `make_phantom` stacks slices over a chest, abdomen or trunk
field of view into a `CTVolume` that `write_ct_series` can write as DICOM.

HU are built so that thresholding at the published ranges recovers the tissue
masks exactly: each tissue's HU are clamped, after the partial-volume blur, to
its range shrunk by the largest noise, and the noise is bounded (3 sigma).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache
from typing import Any

import numpy as np

from ml_worker.synthetic.anatomy import Anatomy, Rib, Section, Segment, make_anatomy, section
from ml_worker.synthetic.volume import HU_MAX, HU_MIN, CTVolume


class Tissue(IntEnum):
    """Tissue label codes of `PhantomCase.tissues` and `render_slice`."""

    AIR = 0  # outside the body, and gas inside it (airway, bowel, stomach)
    MUSCLE = 1  # skeletal muscle, diaphragm included
    IMAT = 2  # intermuscular fat: fat inside the muscle fascia
    SAT = 3  # subcutaneous fat
    VAT = 4  # visceral fat: abdominal, pelvic, mediastinal and deep neck fat
    BONE = 5  # cortical and cancellous bone, calcified cartilage
    LUNG = 6
    OTHER = 7  # organs, blood, bowel, discs, CSF


# Published HU windows (body composition: muscle -29..150, fat -190..-30,
# visceral -150..-50). Rendered HU of each tissue always fall inside its window,
# and the windows of muscle, fat and visceral fat exclude every other tissue
# that shares their compartment.
HU_WINDOWS: dict[Tissue, tuple[int, int]] = {
    Tissue.AIR: (HU_MIN, -901),
    Tissue.MUSCLE: (-29, 150),
    Tissue.IMAT: (-190, -30),
    Tissue.SAT: (-190, -30),
    Tissue.VAT: (-150, -50),
    Tissue.BONE: (150, HU_MAX),
    Tissue.LUNG: (-900, -700),
    Tissue.OTHER: (-29, HU_MAX),
}
# Which tissue labels make up each body-composition compartment.
COMPARTMENTS: dict[str, frozenset[Tissue]] = {
    "muscle": frozenset({Tissue.MUSCLE, Tissue.IMAT}),
    "subcutaneous": frozenset({Tissue.SAT}),
    "visceral": frozenset({Tissue.VAT, Tissue.OTHER}),
}

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


# --- painting ---------------------------------------------------------------
# A slice is painted back to front into a map of structure ids; later
# structures overwrite earlier ones, optionally only over named structures.
_T = Tissue
STRUCTURES: tuple[tuple[str, Tissue, str], ...] = (
    ("outside", _T.AIR, "air"), ("sat", _T.SAT, "fat"), ("muscle", _T.MUSCLE, "muscle"),
    ("paraspinal", _T.MUSCLE, "muscle"), ("psoas", _T.MUSCLE, "muscle"),
    ("diaphragm", _T.MUSCLE, "muscle"), ("imat", _T.IMAT, "imat"), ("vat", _T.VAT, "vat"),
    ("mediastinal_fat", _T.VAT, "vat"), ("perirenal_fat", _T.VAT, "vat"), ("lung", _T.LUNG, "lung"),
    ("gas", _T.AIR, "air"), ("vb_cortex", _T.BONE, "cortical"),
    ("vb_marrow", _T.BONE, "cancellous"),
    ("endplate", _T.BONE, "endplate"), ("arch", _T.BONE, "cortical"),
    ("arch_marrow", _T.BONE, "cancellous"), ("sacrum", _T.BONE, "cortical"),
    ("sacrum_marrow", _T.BONE, "cancellous"), ("rib_cortex", _T.BONE, "cortical"),
    ("rib_marrow", _T.BONE, "cancellous"), ("rib_head", _T.BONE, "cortical"),
    ("cartilage", _T.BONE, "cartilage"), ("iliac_cortex", _T.BONE, "cortical"),
    ("iliac_marrow", _T.BONE, "cancellous"), ("bone_cortex", _T.BONE, "cortical"),
    ("bone_marrow", _T.BONE, "cancellous"), ("disc", _T.OTHER, "disc"), ("csf", _T.OTHER, "csf"),
    ("cord", _T.OTHER, "cord"), ("liver", _T.OTHER, "liver"), ("spleen", _T.OTHER, "spleen"),
    ("kidney", _T.OTHER, "kidney"), ("blood", _T.OTHER, "blood"), ("heart", _T.OTHER, "myocardium"),
    ("bowel", _T.OTHER, "bowel"), ("fluid", _T.OTHER, "fluid"), ("soft", _T.OTHER, "soft"),
    ("thyroid", _T.OTHER, "thyroid"),
)  # fmt: skip
ID = {name: index for index, (name, _, _) in enumerate(STRUCTURES)}
_N_ANGLES = 2048  # outline tables: 0.18 degree steps, sub-pixel at the body surface
_TH = ((np.arange(_N_ANGLES) + 0.5) * 2 * np.pi / _N_ANGLES - np.pi).astype(np.float32)
_COS, _SIN = np.cos(_TH), np.sin(_TH)  # y (sin) grows posteriorly
_PSI = np.abs(np.angle(np.exp(1j * (_TH - np.pi / 2)))).astype(np.float32)  # from the back


@dataclass(frozen=True)
class _Win:
    rs: slice
    cs: slice
    x: np.ndarray  # [1, w] mm
    y: np.ndarray  # [h, 1] mm


class _Canvas:
    def __init__(
        self, rows: int, cols: int, spacing: tuple[float, float], centre: tuple[float, float]
    ) -> None:
        self.dy, self.dx = spacing
        self.x = ((np.arange(cols) - (cols - 1) / 2) * self.dx).astype(np.float32)
        self.y = ((np.arange(rows) - (rows - 1) / 2) * self.dy).astype(np.float32)
        self.ids = np.zeros((rows, cols), dtype=np.uint8)
        self.cx, self.cy = centre
        self.r, self.t = _polar(rows, cols, self.dy, self.dx, self.cx, self.cy)

    def window(self, x0: float, x1: float, y0: float, y1: float) -> _Win | None:
        c0 = max(int(np.floor((x0 - self.x[0]) / self.dx)), 0)
        c1 = min(int(np.ceil((x1 - self.x[0]) / self.dx)) + 1, self.x.size)
        r0 = max(int(np.floor((y0 - self.y[0]) / self.dy)), 0)
        r1 = min(int(np.ceil((y1 - self.y[0]) / self.dy)) + 1, self.y.size)
        if c0 >= c1 or r0 >= r1:
            return None
        return _Win(slice(r0, r1), slice(c0, c1), self.x[None, c0:c1], self.y[r0:r1, None])

    def put(self, win: _Win, mask: np.ndarray, name: str, only: tuple[str, ...] | None) -> None:
        view = self.ids[win.rs, win.cs]
        if only is not None:
            mask = mask & _allowed(only)[view]
        view[mask] = ID[name]

    def ellipse(
        self, name: str, cx: float, cy: float, a: float, b: float,
        angle: float = 0.0, only: tuple[str, ...] | None = None,
    ) -> None:  # fmt: skip
        if a <= 0 or b <= 0:
            return
        reach = max(a, b)
        win = self.window(cx - reach, cx + reach, cy - reach, cy + reach)
        if win is None:
            return
        dx, dy = win.x - cx, win.y - cy
        if angle:
            c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
            dx, dy = dx * c + dy * s, dy * c - dx * s
        self.put(win, (dx / a) ** 2 + (dy / b) ** 2 <= 1.0, name, only)

    def capsule(
        self, name: str, p0: tuple[float, float], p1: tuple[float, float], radius: float,
        only: tuple[str, ...] | None = None,
    ) -> None:  # fmt: skip
        if radius <= 0:
            return
        (x0, y0), (x1, y1) = p0, p1
        win = self.window(
            min(x0, x1) - radius, max(x0, x1) + radius, min(y0, y1) - radius, max(y0, y1) + radius
        )
        if win is None:
            return
        vx, vy = x1 - x0, y1 - y0
        length2 = max(vx * vx + vy * vy, 1e-6)
        t = np.clip(((win.x - x0) * vx + (win.y - y0) * vy) / length2, 0.0, 1.0)
        d2 = (win.x - x0 - t * vx) ** 2 + (win.y - y0 - t * vy) ** 2
        self.put(win, d2 <= radius * radius, name, only)

    def bone_ellipse(
        self, kind: str, cx: float, cy: float, a: float, b: float, angle: float = 0.0,
        cortex_mm: float = 1.5, only: tuple[str, ...] | None = None,
    ) -> None:  # fmt: skip
        self.ellipse(_cortex(kind), cx, cy, a, b, angle, only)
        self.ellipse(f"{kind}_marrow", cx, cy, a - cortex_mm, b - cortex_mm, angle, only)

    def bone_capsule(
        self, kind: str, p0: tuple[float, float], p1: tuple[float, float], radius: float,
        cortex_mm: float = 1.5, only: tuple[str, ...] | None = None,
    ) -> None:  # fmt: skip
        self.capsule(_cortex(kind), p0, p1, radius, only)
        if radius - cortex_mm > 0.6:
            self.capsule(f"{kind}_marrow", p0, p1, radius - cortex_mm, only)


def _cortex(kind: str) -> str:
    return kind if kind in ("arch", "sacrum") else f"{kind}_cortex"


@lru_cache(maxsize=8)
def _polar(
    rows: int, cols: int, dy: float, dx: float, cx: float, cy: float
) -> tuple[np.ndarray, np.ndarray]:
    """Radius (mm) and outline-table index of every pixel around the body centre."""
    x = ((np.arange(cols) - (cols - 1) / 2) * dx - cx).astype(np.float32)[None, :]
    y = ((np.arange(rows) - (rows - 1) / 2) * dy - cy).astype(np.float32)[:, None]
    r = np.hypot(x, y)
    t = np.floor((np.arctan2(y, x) + np.pi) * (_N_ANGLES / (2 * np.pi))).astype(np.int16)
    return r, np.minimum(t, _N_ANGLES - 1)


@lru_cache(maxsize=64)
def _allowed(names: tuple[str, ...]) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[[ID[name] for name in names]] = True
    return table


@dataclass(frozen=True)
class _Outline:
    """Per-angle radii (mm) of the skin, the muscle fascia and the wall's inner surface."""

    body: np.ndarray
    frame: np.ndarray
    inner: np.ndarray

    def at(self, which: str, psi: float, right: bool) -> tuple[float, float]:
        """Point on an outline at angle psi from the posterior midline."""
        theta = np.pi / 2 + psi if right else np.pi / 2 - psi
        index = int((theta + np.pi) * (_N_ANGLES / (2 * np.pi))) % _N_ANGLES
        radius = float(getattr(self, which)[index])
        return radius * math.cos(theta), radius * math.sin(theta)


def _blend(ant: float, lat: float, post: float) -> np.ndarray:
    front, back = np.maximum(-_SIN, 0) ** 2, np.maximum(_SIN, 0) ** 2
    return lat + (ant - lat) * front + (post - lat) * back


def _outline(anatomy: Anatomy, sec: Section) -> _Outline:
    trunk = sec.s > 6.8
    b = np.where(_SIN > 0, sec.b_post, sec.b_ant)
    p = np.where(_SIN > 0, sec.p + (0.6 if trunk else 0.0), sec.p)
    frame = (np.abs(_COS / sec.a) ** p + np.abs(_SIN / b) ** p) ** (-1.0 / p)
    back = np.exp(-(((_TH - np.pi / 2) / 0.12) ** 2))
    if 10.0 < sec.s < 23.5:  # the midline groove between the erector spinae
        frame = frame - 5.0 * back
    body = frame + _blend(sec.sat_ant, sec.sat_lat, sec.sat_post)
    if anatomy.breast_mm and 9.3 < sec.s < 13.8:
        height = anatomy.breast_mm * np.sin(np.pi * (sec.s - 9.3) / 4.5)
        for side in (-1.0, 1.0):
            body = body + height * np.exp(-(((_TH + np.pi / 2 + side * 0.8) / 0.38) ** 2))
    if sec.s > 24.6:  # gluteal cleft
        body = body - min((sec.s - 24.6) * 40.0, 25.0) * np.exp(-(((_TH - np.pi / 2) / 0.07) ** 2))
    inner = frame - _blend(sec.wall_ant, sec.wall_lat, sec.wall_post)
    return _Outline(body.astype(np.float32), frame.astype(np.float32), inner.astype(np.float32))


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


def _window_of(cv: _Canvas, reach: float) -> _Win | None:
    return cv.window(cv.cx - reach, cv.cx + reach, cv.cy - reach, cv.cy + reach)


def _span(s: float, lo: float, hi: float) -> float | None:
    """Fraction of the way through [lo, hi] (standard levels), None outside."""
    return (s - lo) / (hi - lo) if lo < s < hi else None


def _cavity(cv: _Canvas, out: _Outline) -> tuple[float, float, float]:
    """Half-width and front/back depths (mm) of the space inside the muscle wall."""
    left, right = out.at("inner", np.pi / 2, False)[0], -out.at("inner", np.pi / 2, True)[0]
    return (left + right) / 2, -out.at("inner", np.pi, True)[1], out.at("inner", 0.35, True)[1]


def _paint_body(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    win = _window_of(cv, float(out.body.max()))
    if win is None:
        return
    r, t = cv.r[win.rs, win.cs], cv.t[win.rs, win.cs]
    ids = cv.ids[win.rs, win.cs]
    frame, inner = out.frame[t], out.inner[t]
    ids[r < out.body[t]] = ID["sat"]
    ids[r < frame] = ID["muscle"]
    neck = sec.s < an.landmarks["lung_apex"] - 0.05
    ids[r < inner] = ID["mediastinal_fat"] if neck else ID["vat"]
    wall = (r >= inner) & (r < frame)
    wr, wt = r[wall], t[wall]
    din = wr - inner[wall]
    thick = frame[wall] - inner[wall]
    values = ids[wall]
    fat = np.zeros(wr.shape, dtype=bool)
    if sec.rib_layer:  # the plane between the intercostals and the outer muscles
        fat |= (
            (din > sec.rib_layer + 0.3) & (din < sec.rib_layer + 1.5) & (thick > sec.rib_layer + 6)
        )
    if 17.5 < sec.s < 24.3:  # planes between the oblique and transverse muscles
        lateral = np.abs(_SIN[wt]) < 0.75
        for fraction in (0.36, 0.66):
            fat |= lateral & (np.abs(thick - din - fraction * thick) < 0.6)
    values[fat] = ID["imat"]
    if sec.s > 15.5:  # linea alba: the recti part in the midline
        values[(_SIN[wt] < -0.9) & (np.abs(wr * _COS[wt]) < 4.0)] = ID["sat"]
    ids[wall] = values


def _paint_thorax(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    """Lungs above the diaphragm, the diaphragm, the mediastinum and the heart.
    The diaphragm is a surface: highest at the domes (right above left), lowest
    in the posterior costophrenic recesses at the lung bases."""
    marks = an.landmarks
    z_base = an.z_of_std(marks["lung_base"])
    if sec.s < marks["lung_apex"] - 0.05 or sec.z < z_base - 8.0:
        return
    win = _window_of(cv, float(out.inner.max()))
    if win is None:
        return
    ids, r, t = cv.ids[win.rs, win.cs], cv.r[win.rs, win.cs], cv.t[win.rs, win.cs]
    cavity = ids == ID["vat"]
    q = np.minimum(r / np.maximum(out.inner[t], 1.0) * (0.68 + 0.32 * _SIN[t]), 1.0)
    z_right, z_left = an.z_of_std(marks["dome_right"]), an.z_of_std(marks["dome_left"])
    dome = z_right + (z_left - z_right) * np.clip((win.x - cv.cx) / 60.0 + 0.5, 0.0, 1.0)
    z_surface = dome - (dome - z_base) * q**1.6
    above = cavity & (sec.z > z_surface)
    ids[above] = ID["mediastinal_fat"]
    ids[cavity & ~above & (sec.z > z_surface - 6.0)] = ID["diaphragm"]
    ids[above & _lung_shape(cv, an, sec, out, win)] = ID["lung"]
    _paint_heart(cv, an, sec, out)


def _lung_shape(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline, win: _Win) -> np.ndarray:
    """Where lung may be: outside the mediastinum, and inside the apices near the top."""
    a_in, front, _ = _cavity(cv, out)
    y_front, y_spine = cv.cy - front, sec.spine_y
    half_front = 26.0 if sec.s < 10.5 else 9.0
    half_back = sec.width / 2 + 4.0
    f = np.clip((win.y - y_front) / max(y_spine - y_front, 1.0), 0.0, 1.0)
    shape = np.abs(win.x - sec.spine_x) > half_front + (half_back - half_front) * f
    grow = np.sqrt(np.clip((sec.s - an.landmarks["lung_apex"]) / 2.2, 0.0, 1.0))
    if grow < 1.0:
        apices = np.zeros(shape.shape, dtype=bool)
        for side in (-1.0, 1.0):
            ax, by = 0.5 * a_in * grow + 3.0, 0.6 * front * grow + 3.0
            cx, cy = cv.cx + side * 0.45 * a_in, cv.cy + 0.2 * front
            apices |= ((win.x - cx) / ax) ** 2 + ((win.y - cy) / by) ** 2 <= 1.0
        shape &= apices
    return shape


def _paint_heart(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    t = _span(sec.s, an.landmarks["heart_top"], an.landmarks["heart_bottom"])
    if t is None:
        return
    f = float(np.sin(np.pi * t**0.75) ** 0.6)
    a_in, front, _ = _cavity(cv, out)
    y_front = cv.cy - front
    depth = sec.spine_y - sec.depth / 2 - y_front
    hx, hy = cv.cx + 0.22 * a_in, y_front + 0.45 * depth
    ax, by = 0.38 * a_in * f + 6.0, 0.36 * depth * f + 5.0
    chest = ("lung", "mediastinal_fat")
    cv.ellipse("mediastinal_fat", hx, hy, ax + 4.0, by + 4.0, -0.45, chest)
    cv.ellipse("heart", hx, hy, ax, by, -0.45, chest)
    cv.ellipse("blood", hx - 0.3 * ax, hy, 0.42 * ax, 0.55 * by, -0.45, ("heart",))
    cv.ellipse("blood", hx + 0.3 * ax, hy + 0.1 * by, 0.33 * ax, 0.5 * by, -0.45, ("heart",))


def _paint_airway_and_vessels(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    marks, s, k = an.landmarks, sec.s, an.lr_scale
    a_in, front, _ = _cavity(cv, out)
    y_body = sec.spine_y - sec.depth / 2  # front of the vertebral body
    ty = y_body - 20.0 * k  # trachea
    x0 = sec.spine_x
    soft = ("mediastinal_fat", "lung", "vat", "muscle")
    if s < 4.6:  # pharynx
        cv.ellipse("gas", x0, y_body - 12.0, 14.0 * k, 6.0 * k, 0.0, soft)
    elif s < marks["carina"]:
        radius = (10.0 if s < 5.4 else 8.0) * k
        cv.ellipse("soft", x0, ty, radius + 2.5, radius + 2.5, 0.0, soft)
        cv.ellipse("gas", x0, ty, radius, radius * 0.9, 0.0, ("soft",))
        if s < 5.2:  # thyroid cartilage
            for side in (-1.0, 1.0):
                cv.capsule("cartilage", (x0 + side * 15 * k, ty + 2), (x0, ty - 15 * k), 1.6, soft)
    if (t := _span(s, marks["carina"], marks["carina"] + 0.9)) is not None:
        for side in (-1.0, 1.0):
            bx, by = x0 + side * (8.0 + 30.0 * t) * k, ty + 6.0 * t
            cv.ellipse("soft", bx, by, 8.0 * k, 8.0 * k, 0.0, ("mediastinal_fat", "lung"))
            cv.ellipse("gas", bx, by, 5.5 * k, 5.5 * k, 0.0, ("soft",))
    if 4.8 < s < marks["dome_left"] + 0.4:  # oesophagus
        cv.ellipse("soft", x0 + 4.0, y_body - 6.0, 7.0 * k, 5.5 * k, 0.0, soft)
    if (t := _span(s, 5.2, 7.1)) is not None:  # thyroid lobes
        f = float(np.sin(np.pi * t) ** 0.5)
        for side in (-1.0, 1.0):
            cv.ellipse(
                "thyroid", x0 + side * 17 * k, ty - 2, 8 * k * f, 14 * k * f, side * 0.4, soft
            )
    if s < 7.3:
        for side in (-1.0, 1.0):
            cv.ellipse("blood", x0 + side * 26 * k, ty + 4, 4.5 * k, 4.5 * k, 0.0, soft)
            cv.ellipse("blood", x0 + side * 37 * k, ty + 1, 7 * k, 5 * k, 0.0, soft)
    _paint_great_vessels(cv, an, sec, a_in, cv.cy - front, ty)


def _paint_great_vessels(
    cv: _Canvas, an: Anatomy, sec: Section, a_in: float, y_front: float, ty: float
) -> None:
    marks, s, k, x0 = an.landmarks, sec.s, an.lr_scale, sec.spine_x
    y_body = sec.spine_y - sec.depth / 2
    depth = y_body - y_front
    soft = ("mediastinal_fat", "lung", "vat")
    ascending = (x0 - 12.0 * k, y_front + 0.42 * depth)
    thoracic = float(np.clip((s - 17.0) / 2.5, 0.0, 1.0))
    descending = (
        x0 + (sec.width / 2 * 0.55 + 9.0) * (1 - thoracic) + 9.0 * thoracic,
        y_body - 5.0 - 9.0 * thoracic,
    )
    if marks["aortic_arch"] < s < marks["bifurcation"]:
        radius = (12.0 - 2.0 * thoracic) * k
        cv.ellipse("blood", *descending, radius, radius, 0.0, soft)
    if marks["aortic_arch"] - 0.35 < s < marks["aortic_arch"] + 0.3:
        cv.capsule("blood", ascending, descending, 13.0 * k, soft)
    if marks["aortic_arch"] < s < marks["heart_top"] + 1.6:
        cv.ellipse("blood", *ascending, 15.0 * k, 15.0 * k, 0.0, soft)
        cv.ellipse("blood", ascending[0] - 24 * k, ascending[1] + 4, 10 * k, 10 * k, 0.0, soft)
    if 6.9 < s < marks["aortic_arch"] - 0.3:  # arch branches
        for dx in (-14.0, 2.0, 14.0):
            cv.ellipse("blood", x0 + dx * k, ty - 14.0 * k, 5.5 * k, 5.5 * k, 0.0, soft)
    if (t := _span(s, marks["carina"] - 0.1, marks["carina"] + 1.4)) is not None:
        cv.ellipse("blood", x0 + 14 * k, y_front + 0.3 * depth, 13 * k, 11 * k, 0.0, soft)
        for side in (-1.0, 1.0):  # hilar vessels
            cv.ellipse(
                "blood", x0 + side * (sec.width / 2 + 22) * k, ty + 10, 10 * k, 8 * k, 0, soft
            )
    if marks["dome_right"] + 0.3 < s < marks["bifurcation"] + 0.3:  # inferior vena cava
        cv.ellipse("blood", x0 - (sec.width * 0.3 + 12.0), y_body - 12.0, 13 * k, 10 * k, 0, soft)
    if (t := _span(s, marks["bifurcation"], marks["bifurcation"] + 2.2)) is not None:
        for side in (-1.0, 1.0):  # iliac arteries and veins
            x = x0 + side * (12.0 + 45.0 * t) * k
            cv.ellipse("blood", x, y_body - 14.0 - 12.0 * t, 6.5 * k, 6.5 * k, 0.0, soft)
            cv.ellipse("blood", x - side * 4.0, y_body - 4.0 - 10.0 * t, 8 * k, 7 * k, 0.0, soft)


def _paint_muscles(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    _paint_paraspinal(cv, an, sec, out)
    _paint_psoas(cv, an, sec)
    if sec.s < 7.2:
        _paint_neck_muscles(cv, an, sec, out)
    grow = min(max((sec.s - an.landmarks["crest"]) / 1.0, 0.0), 1.0)
    for wing in _iliac_wings(cv, an, sec, out):  # iliacus lines the iliac fossa
        inward = [(x + (cv.cx - x) * 0.1, y + (cv.cy - y) * 0.1) for x, y in wing.plate]
        for p0, p1 in zip(inward, inward[1:], strict=False):
            cv.capsule("muscle", p0, p1, 10.0 * an.muscle * grow, ("vat",))


# Erector spinae + multifidus half-width along the standard level coordinate.
_PARASPINAL_S = (0.0, 5.0, 7.0, 9.0, 13.0, 18.0, 21.0, 23.0, 24.3, 25.2)
_PARASPINAL_W = (42.0, 42.0, 34.0, 28.0, 28.0, 34.0, 44.0, 46.0, 38.0, 16.0)


def _infiltration_threshold(fraction: float) -> float:
    """Threshold on a sum of three plane waves that marks `fraction` of the area."""
    return float(np.interp(fraction, _INFILTRATION_FRACTIONS, _INFILTRATION_THRESHOLDS))


_WAVES = np.sin(np.random.default_rng(0).uniform(0, 2 * np.pi, (3, 40000))).sum(axis=0)
_INFILTRATION_FRACTIONS = np.linspace(0.0, 0.3, 31)
_INFILTRATION_THRESHOLDS = np.quantile(_WAVES, 1.0 - _INFILTRATION_FRACTIONS)


def _infiltration(an: Anatomy, win: _Win, z: float) -> np.ndarray:
    """Irregular streaks of fat, fixed in 3-D so neighbouring slices agree."""
    rng = np.random.default_rng([an.seed, 11])
    total = np.zeros((win.y.size, win.x.size), dtype=np.float32)
    for _ in range(3):
        angle, k, kz, phase = (
            rng.uniform(0, np.pi),
            rng.uniform(0.5, 0.9),
            rng.uniform(0.2, 0.4),
            rng.uniform(0, 2 * np.pi),
        )
        total += np.sin(k * (win.x * np.cos(angle) + win.y * np.sin(angle)) + kz * z + phase)
    return total > _infiltration_threshold(an.imat)


def _paint_paraspinal(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    width = float(np.interp(sec.s, _PARASPINAL_S, _PARASPINAL_W)) * an.lr_scale * an.muscle**0.7
    y_front = sec.spine_y + sec.depth / 2 + sec.canal_d * 0.4
    y_back = cv.cy + out.at("frame", 0.3, True)[1] - 1.0
    if y_back - y_front < 6.0:
        return
    ry, yc = (y_back - y_front) / 2, (y_back + y_front) / 2
    bed = ("muscle", "vat", "mediastinal_fat", "lung", "imat")
    for side in (-1.0, 1.0):
        xc = sec.spine_x + side * (4.0 + width / 2)
        cv.ellipse("paraspinal", xc, yc, width / 2 + 2.0, ry, 0.0, bed)
        p0 = (sec.spine_x + side * (4.0 + 0.5 * width), y_front + 0.2 * (y_back - y_front))
        p1 = (sec.spine_x + side * (4.0 + 0.38 * width), y_back - 0.12 * (y_back - y_front))
        cv.capsule("imat", p0, p1, 0.6, ("paraspinal",))
    win = cv.window(sec.spine_x - width - 8, sec.spine_x + width + 8, y_front, y_back)
    if win is None or an.imat <= 0:
        return
    cv.put(win, _infiltration(an, win, sec.z), "imat", ("paraspinal",))


def _paint_psoas(cv: _Canvas, an: Anatomy, sec: Section) -> None:
    s, m, k = sec.s, an.muscle**0.8, an.lr_scale
    top = an.landmarks["psoas_top"]
    if top < s < 25.0:
        g = min((s - top) / (23.6 - top), 1.0) ** 0.8
        rx, ry = (4.0 + 19.0 * g) * m * k, (4.0 + 16.0 * g) * m * k
        drift = max(s - 23.6, 0.0)  # in the pelvis it runs forwards and out
        for side in (-1.0, 1.0):
            x = sec.spine_x + side * (sec.width / 2 + rx * 0.75 + 22.0 * drift)
            y = sec.spine_y - sec.depth * 0.05 - 28.0 * drift
            cv.ellipse("psoas", x, y, rx, ry, 0.0, ("vat", "muscle", "diaphragm"))
    if (t := _span(s, 19.0, 22.9)) is not None:  # quadratus lumborum
        f = float(np.sin(np.pi * t) ** 0.5)
        for side in (-1.0, 1.0):
            x = sec.spine_x + side * (sec.width / 2 + 40.0 * k)
            y = sec.spine_y + sec.depth / 2 + 6.0
            cv.ellipse("muscle", x, y, 17 * f * m * k, 8 * f * m * k, side * 0.35, ("vat",))
    if an.landmarks["dome_right"] + 1.6 < s < 20.4:  # diaphragmatic crura
        for side in (-1.0, 1.0):
            p0 = (sec.spine_x + side * (sec.width / 2 - 2.0), sec.spine_y - sec.depth * 0.2)
            p1 = (sec.spine_x + side * 7.0, sec.spine_y - sec.depth / 2 - 16.0)
            cv.capsule("diaphragm", p0, p1, 3.0, ("vat",))


def _paint_neck_muscles(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    m, k = an.muscle, an.lr_scale
    y_body = sec.spine_y - sec.depth / 2
    ty = y_body - 20.0 * k
    bed = ("mediastinal_fat", "muscle")
    for right in (True, False):
        side = -1.0 if right else 1.0
        x_edge = cv.cx + out.at("frame", np.pi / 2, right)[0]
        cv.ellipse("muscle", x_edge - side * 12 * k, ty + 4, 8 * m * k, 18 * m * k, side * 0.5, bed)
        cv.ellipse("muscle", sec.spine_x + side * 7 * k, y_body - 3, 6 * m, 4 * m, 0.0, bed)
        cv.capsule("muscle", (side * 4 * k, ty - 14 * k), (side * 22 * k, ty - 9 * k), 2.5, bed)


def _paint_abdomen(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    marks, s, k = an.landmarks, sec.s, an.lr_scale
    a_in, front, back = _cavity(cv, out)
    cx, cy = cv.cx, cv.cy
    bed = ("vat",)
    if (t := _span(s, marks["dome_right"], marks["liver_tip"])) is not None:
        depth = (front + back) / 2
        cv.ellipse(
            "liver", cx - a_in * (0.12 + 0.42 * t), cy - 0.1 * front + 0.15 * t * back,
            a_in * (0.95 - 0.62 * t), depth * (0.9 - 0.5 * t), 0.0, bed,
        )  # fmt: skip
    if (t := _span(s, marks["dome_left"] + 0.25, marks["stomach_bottom"])) is not None:
        f = float(np.sin(np.pi * t) ** 0.5)
        x, y, rx, ry = cx + 0.42 * a_in, cy - 0.3 * front, 0.3 * a_in * f + 5, 0.35 * front * f + 5
        cv.ellipse("bowel", x, y, rx, ry, 0.5, bed)
        cv.ellipse("fluid", x, y, rx - 3.0, ry - 3.0, 0.5, ("bowel",))
        cv.ellipse("gas", x, y - 0.55 * ry, 0.7 * rx, 0.45 * ry, 0.0, ("fluid",))
    if (t := _span(s, marks["dome_left"] + 0.5, marks["spleen_bottom"])) is not None:
        f = float(np.sin(np.pi * t) ** 0.5)
        x, y = cx + 0.7 * a_in, cy + 0.35 * back
        cv.ellipse("spleen", x, y, 0.18 * a_in * f + 4, 0.42 * back * f + 4, -0.7, bed)
    if (t := _span(s, 19.0, 20.6)) is not None:  # pancreas
        f = float(np.sin(np.pi * t) ** 0.5)
        y_body = sec.spine_y - sec.depth / 2
        p0, p1 = (sec.spine_x - 25.0, y_body - 35.0), (sec.spine_x + 0.45 * a_in, y_body - 15.0)
        cv.capsule("soft", p0, p1, 9.0 * f * k, bed)
    _paint_kidneys(cv, an, sec)
    if (t := _span(s, marks["bladder_top"], 27.0)) is not None:
        g = min(t * 3.0, 1.0) ** 0.5
        x, y, rx, ry = cx, cy - 0.25 * front, (40 * g + 5) * k, (30 * g + 4) * k
        cv.ellipse("bowel", x, y, rx, ry, 0.0, bed)
        cv.ellipse("fluid", x, y, rx - 3.0, ry - 3.0, 0.0, ("bowel",))


def _paint_kidneys(cv: _Canvas, an: Anatomy, sec: Section) -> None:
    k = an.lr_scale
    for side in (-1.0, 1.0):  # the left kidney sits a little higher
        top = an.landmarks["kidney_right"] - (0.4 if side > 0 else 0.0)
        t = _span(sec.s, top, top + 3.1)
        if t is None:
            continue
        f = float(np.sqrt(max(1.0 - (2 * t - 1) ** 2, 0.0)))
        x = sec.spine_x + side * (sec.width / 2 + 45.0 * k)
        y = sec.spine_y + 4.0
        rx, ry = (24.0 * f + 2.0) * k, (31.0 * f + 2.0) * k
        cv.ellipse("perirenal_fat", x, y, rx + 9.0, ry + 9.0, side * 0.5, ("vat",))
        cv.ellipse("kidney", x, y, rx, ry, side * 0.5, ("perirenal_fat",))
        if 0.3 < t < 0.7:  # renal sinus fat at the hilum
            cv.ellipse("perirenal_fat", x - side * 9.0, y - 4.0, 6 * f, 9 * f, 0.0, ("kidney",))


def _bowel_loop(cv: _Canvas, x: float, y: float, rx: float, ry: float, kind: int) -> None:
    cv.ellipse("bowel", x, y, rx, ry, 0.0, ("vat",))
    content = "gas" if kind == 1 else "fluid"
    cv.ellipse(content, x, y, rx - 2.5, ry - 2.5, 0.0, ("bowel",))
    if kind == 2:  # gas rises to the anterior, non-dependent side
        cv.ellipse("gas", x, y - 0.5 * ry, 0.8 * rx, 0.45 * ry, 0.0, ("fluid",))


def _paint_bowel(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    if sec.s < 18.5:
        return
    a_in, front, back = _cavity(cv, out)
    for nx, ny, zc, rx, ry, rz, kind in an.bowel:
        dz = (sec.z - zc) / rz
        if abs(dz) < 1.0:
            f = float(np.sqrt(1.0 - dz * dz))
            x = cv.cx + nx * a_in * 0.85
            y = cv.cy + ny * (front if ny < 0 else back) * 0.85
            _bowel_loop(cv, x, y, rx * f, ry * f, int(kind))
    s, k = sec.s, an.lr_scale
    if 20.2 < s < 24.4:  # ascending colon
        _bowel_loop(cv, cv.cx - 0.72 * a_in, cv.cy + 0.05 * back, 20 * k, 18 * k, 2)
    if 19.4 < s < 24.2:  # descending colon
        _bowel_loop(cv, cv.cx + 0.74 * a_in, cv.cy + 0.15 * back, 16 * k, 15 * k, 2)
    if (t := _span(s, 20.2, 21.1)) is not None:  # transverse colon
        f = float(np.sin(np.pi * t) ** 0.5)
        for x in np.linspace(-0.6, 0.6, 5):
            _bowel_loop(cv, cv.cx + x * a_in, cv.cy - 0.55 * front, 18 * f * k, 16 * f * k, 1)
    if s > 24.5:  # rectum and sigmoid, in front of the sacrum
        _bowel_loop(cv, sec.spine_x, sec.spine_y - 45.0 * k, 17 * k, 15 * k, 2)


_RIB_PSI_START = 0.42  # where the shaft leaves the costotransverse region
_RIB_HALF_HEIGHT = 6.0


def _rib_spans(rib: Rib, z: float, h: float) -> list[tuple[float, float, str]]:
    """Angular spans (from the back) where a rib of half-height h crosses the
    slice at z: the bone runs level near the spine then slopes down towards its
    anterior end; the cartilage climbs back up to the sternum."""
    spans = []
    top, bottom = z + h, z - h
    if bottom < rib.head_z and top > rib.bone_z:
        drop = rib.head_z - rib.bone_z

        def bony(zz: float) -> float:
            t = min(max((rib.head_z - zz) / drop, 0.0), 1.0) ** (1 / 1.4)
            return _RIB_PSI_START + (rib.psi_bone - _RIB_PSI_START) * t

        spans.append((bony(top), bony(bottom), "rib_cortex"))
    rise = rib.end_z - rib.bone_z
    if rise > 1.0 and bottom < rib.end_z and top > rib.bone_z:

        def cartilage(zz: float) -> float:
            t = min(max((zz - rib.bone_z) / rise, 0.0), 1.0)
            return rib.psi_bone + (rib.psi_end - rib.psi_bone) * t

        spans.append((cartilage(bottom), cartilage(top), "cartilage"))
    return spans


def _paint_ribs(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    h = _RIB_HALF_HEIGHT
    ribs = [rib for rib in an.ribs if rib.bone_z - h < sec.z < rib.head_z + h]
    if not sec.rib_layer or not ribs:
        return
    win = _window_of(cv, float(out.frame.max()))
    if win is None:
        return
    ids, r, t = cv.ids[win.rs, win.cs], cv.r[win.rs, win.cs], cv.t[win.rs, win.cs]
    thick = sec.rib_layer - 1.0
    din = r - out.inner[t]
    band = (din > 0.4) & (din < 0.4 + thick)
    br, bd, psi = r[band], din[band], _PSI[t[band]]
    values = ids[band]
    inset = 1.4 / np.maximum(br, 1.0)
    inside = (bd > 1.8) & (bd < thick - 1.0)
    for rib in ribs:
        for lo, hi, name in _rib_spans(rib, sec.z, h):
            on = (psi >= lo) & (psi <= hi)
            values[on] = ID[name]
            if name == "rib_cortex":
                values[on & inside & (psi > lo + inset) & (psi < hi - inset)] = ID["rib_marrow"]
    ids[band] = values
    for rib in ribs:
        if abs(sec.z - rib.head_z) < h - 0.5:
            _paint_rib_neck(cv, sec, out, thick)


def _paint_rib_neck(cv: _Canvas, sec: Section, out: _Outline, thick: float) -> None:
    """Head and neck: from the side of the vertebral body out to the shaft."""
    for right in (True, False):
        side = -1.0 if right else 1.0
        joint = (sec.spine_x + side * (sec.width / 2 - 1.5), sec.spine_y + sec.depth * 0.2)
        x, y = out.at("inner", _RIB_PSI_START, right)
        scale = 1.0 + (0.4 + thick / 2) / max(np.hypot(x, y), 1.0)
        shaft = (cv.cx + x * scale, cv.cy + y * scale)
        cv.capsule("rib_head", joint, shaft, thick / 2)
        cv.capsule("rib_marrow", joint, shaft, thick / 2 - 1.4)


def _paint_spine(cv: _Canvas, an: Anatomy, sec: Section) -> None:
    if sec.z > 0.0:
        return  # above C1: the skull base is not modelled
    index = an.segment_index(sec.z)
    segments = an.segments
    for j in (index - 1, index, index + 1):
        if 0 <= j < len(segments) and segments[j].kind != "sacral":
            _paint_arch(cv, an, sec, j)
    segment = segments[index]
    if segment.kind == "sacral":
        _paint_sacrum(cv, an, sec, segment)
        return
    x, y = sec.spine_x, sec.spine_y
    if sec.z > segment.bottom_z:
        h = segment.top_z - segment.bottom_z
        waist = 1.0 - 0.05 * np.sin(np.pi * (segment.top_z - sec.z) / h)
        a, b = segment.width / 2 * waist, segment.depth / 2 * waist
        near_end = min(segment.top_z - sec.z, sec.z - segment.bottom_z) < 1.5
        cv.ellipse("vb_cortex", x, y, a, b)
        cv.ellipse("endplate" if near_end else "vb_marrow", x, y, a - 1.5, b - 1.5)
    else:
        below = segments[index + 1]
        f = (segment.bottom_z - sec.z) / max(segment.bottom_z - segment.next_top_z, 1e-3)
        a = (segment.width + (below.width - segment.width) * f) / 2
        b = (segment.depth + (below.depth - segment.depth) * f) / 2
        cv.ellipse("disc", x, y, a, b)
    _paint_canal(cv, sec)


def _paint_canal(cv: _Canvas, sec: Section) -> None:
    y = sec.spine_y + sec.depth / 2 + sec.canal_d / 2 + 1.0
    cv.ellipse("csf", sec.spine_x, y, sec.canal_w / 2, sec.canal_d / 2)
    if sec.s < 20.3:  # the cord ends at L1-L2; below lies the cauda equina
        cv.ellipse("cord", sec.spine_x, y, sec.canal_w * 0.26, sec.canal_d * 0.3)


def _paint_arch(cv: _Canvas, an: Anatomy, sec: Section, j: int) -> None:
    """Pedicles, laminae, spinous and transverse processes and facets of
    vertebra j at the current height; they reach into the disc levels."""
    seg = an.segments[j]
    h = seg.top_z - seg.bottom_z
    fb = (seg.top_z - sec.z) / h  # 0 at the upper endplate, 1 at the lower
    disc = (seg.bottom_z - seg.next_top_z) / h
    above = (an.segments[j - 1].bottom_z - seg.top_z) / h if j > 0 else 0.0
    if fb < -above - 0.2 or fb > 1.0 + disc + 0.7:
        return
    x, k = sec.spine_x, an.lr_scale
    y_back = sec.spine_y + sec.depth / 2
    px, py = sec.canal_w / 2 + 2.5, y_back + sec.canal_d * 0.55  # pedicle-lamina junction
    y_canal = y_back + sec.canal_d + 2.0
    cervical, thoracic = seg.kind == "cervical", seg.kind == "thoracic"
    for side in (-1.0, 1.0):
        if 0.08 < fb < 0.62:
            start = (x + side * seg.width * 0.3, y_back - 2.0)
            cv.bone_capsule("arch", start, (x + side * px, py), 2.5 if cervical else 4.0)
        if 0.3 < fb < 1.0 + 0.8 * disc:
            cv.capsule("arch", (x + side * px, py), (x, y_canal), 3.2)
        if 0.75 < fb < 1.0 + disc + 0.1 or -above - 0.15 < fb < 0.2:  # articular processes
            cv.bone_ellipse("arch", x + side * (px + 2.0), py + 3.0, 5.0 * k, 6.0 * k)
        if 0.12 < fb < 0.55:
            _paint_transverse(cv, seg, sec, side, (x + side * px, py))
    lo, hi = (0.45, 1.0 + disc + 0.45) if thoracic else (0.3, 1.1) if cervical else (0.25, 0.95)
    if lo < fb < hi:
        # Thoracic spines slope down: lower slices cut only their distal part.
        start = 0.7 * seg.spinous * (fb - lo) / (hi - lo) if thoracic else 0.0
        tip = (x, y_canal + seg.spinous)
        cv.bone_capsule("arch", (x, y_canal + start), tip, 5.0 if seg.kind == "lumbar" else 3.5)
        if cervical and seg.name != "C7":  # bifid tips
            for side in (-1.0, 1.0):
                cv.capsule("arch", tip, (x + side * 5.0, tip[1] + 4.0), 2.2)


def _paint_transverse(
    cv: _Canvas, seg: Segment, sec: Section, side: float, base: tuple[float, float]
) -> None:
    x, y = sec.spine_x, sec.spine_y
    if seg.kind == "cervical":  # with the foramen of the vertebral artery
        start = (x + side * seg.width / 2, y)
        cv.capsule("arch", start, (start[0] + side * seg.tp_len, y + 2.0), 3.5)
        cv.ellipse("blood", start[0] + side * 4.0, y + 1.0, 2.2, 2.2)
    elif seg.kind == "thoracic":  # points back and out, to meet its rib
        end = (base[0] + side * seg.tp_len * 0.9, base[1] + seg.tp_len * 0.44)
        cv.bone_capsule("arch", base, end, 4.0)
    else:
        radius, extra = (9.0, 12.0) if seg.fused else (3.5, 0.0)
        end = (base[0] + side * (seg.tp_len + extra + seg.width * 0.15), base[1] - 4.0)
        cv.bone_capsule("arch", (base[0], base[1] - 2.0), end, radius)


def _sacrum_shape(an: Anatomy, sec: Section) -> tuple[float, float, float, float, float, float]:
    """(x, y, body half-width, half-depth, ala reach, ala radius) at this height."""
    segment = an.segments[-1]
    f = min(max((segment.top_z - sec.z) / an.sacrum_length, 0.0), 1.0)
    k = an.lr_scale
    y = sec.spine_y + 18.0 * f**1.5  # the sacrum curves backwards
    half_w = segment.width / 2 * (1.0 - 0.6 * f)
    half_d = segment.depth / 2 * (1.0 - 0.45 * f)
    return sec.spine_x, y, half_w, half_d, 52.0 * k * (1.0 - 0.6 * f), 13.0 * k * (1 - 0.5 * f)


def _paint_sacrum(cv: _Canvas, an: Anatomy, sec: Section, segment: Segment) -> None:
    f = (segment.top_z - sec.z) / an.sacrum_length
    x, y, half_w, half_d, ala, ala_r = _sacrum_shape(an, sec)
    if f <= 1.0:
        cv.bone_capsule("sacrum", (x - ala, y + 4.0), (x + ala, y + 4.0), ala_r, cortex_mm=2.0)
        cv.bone_ellipse("sacrum", x, y, half_w, half_d)
        if f < 0.85 and 0.3 < (f * 5.0) % 1.0 < 0.7:  # anterior sacral foramina
            for side in (-1.0, 1.0):
                cv.ellipse("csf", x + side * (half_w + 6.0), y - 2.0, 3.5, 3.5)
        canal_w = segment.canal_w / 2 * (1.0 - 0.5 * f)
        cv.ellipse("csf", x, y + half_d + 5.0, canal_w, 4.0)
        cv.capsule("sacrum", (x, y + half_d + 10.0), (x, y + half_d + 16.0), 3.0)
    elif f < 1.0 + 30.0 / an.sacrum_length:  # coccyx
        g = (f - 1.0) * an.sacrum_length / 30.0
        cv.bone_ellipse("sacrum", x, y - 6.0 * g, 8.0 - 4.0 * g, 6.0 - 3.0 * g)


@dataclass(frozen=True)
class _Wing:
    """One iliac bone in a slice: a curved plate along the inner surface of the
    gluteal wall, and a thicker posterior part towards the sacroiliac joint."""

    plate: list[tuple[float, float]]
    plate_radius: float
    posterior: tuple[tuple[float, float], tuple[float, float]] | None
    posterior_radius: float


def _iliac_wings(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> list[_Wing]:
    """The wing appears at the crest as a posterolateral rim and spreads forwards
    and backwards below it; from S1 down its posterior end meets the sacral ala."""
    s, crest, k = sec.s, an.landmarks["crest"], an.lr_scale
    if not crest < s < 25.5:
        return []
    low = min(max((s - 24.6) / 0.6, 0.0), 1.0)  # towards the acetabulum
    spread = min((s - crest) / 0.6, 1.0)
    psi_lo = 1.3 - 0.3 * spread + 0.45 * low
    psi_hi = 1.3 + (2.05 - 0.3 * low - 1.3) * min((s - crest) / 1.3, 1.0)
    x, y, _, _, ala, ala_r = _sacrum_shape(an, sec)
    wings = []
    for right in (True, False):
        side = -1.0 if right else 1.0
        plate = []
        for psi in np.linspace(psi_lo, psi_hi, 6):
            px, py = out.at("inner", float(psi), right)
            plate.append((cv.cx + px * 1.03, cv.cy + py * 1.03))
        posterior = None
        reach = min(max((s - crest - 0.6) / 0.5, 0.0), 1.0)
        if reach > 0:
            if s < 24.0:
                target = (x + side * (sec.width / 2 + 38.0 * k), sec.spine_y + 32.0 * k)
            else:
                target = (x + side * (ala + ala_r + 2.5), y + 4.0)
            start = plate[0]
            end = (
                start[0] + (target[0] - start[0]) * reach,
                start[1] + (target[1] - start[1]) * reach,
            )
            posterior = (start, end)
        rim = 5.0 if s - crest < 0.3 else 3.5
        wings.append(_Wing(plate, (rim + 6.0 * low) * k, posterior, (6.0 + 3.0 * low) * k))
    return wings


def _paint_girdles(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    _paint_sternum(cv, an, sec, out)
    _paint_clavicles(cv, an, sec, out)
    _paint_scapulae(cv, an, sec, out)
    for wing in _iliac_wings(cv, an, sec, out):
        for p0, p1 in zip(wing.plate, wing.plate[1:], strict=False):
            cv.bone_capsule("iliac", p0, p1, wing.plate_radius)
        if wing.posterior:
            cv.bone_capsule("iliac", *wing.posterior, wing.posterior_radius)
    if (t := _span(sec.s, 25.0, 25.6)) is not None:  # femoral heads
        radius = 22.0 * an.lr_scale * float(np.sqrt(max(1.0 - (2 * t - 1) ** 2, 0.05)))
        for right in (True, False):
            hx, hy = out.at("inner", 1.85, right)
            scale = 1.0 + (radius + 6.0) / max(np.hypot(hx, hy), 1.0)
            cv.bone_ellipse("bone", cv.cx + hx * scale, cv.cy + hy * scale, radius, radius)


def _paint_sternum(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    marks, k = an.landmarks, an.lr_scale
    if not marks["manubrium"] < sec.s < marks["xiphoid"] + 0.3:
        return
    _, y = out.at("inner", np.pi, True)
    y = cv.cy + y - max(sec.rib_layer, 6.0) / 2
    if sec.s < marks["sternal_angle"]:
        half_w, half_t = 24.0 * k, 6.0 * k
    elif sec.s < marks["xiphoid"] - 0.6:
        half_w, half_t = 14.0 * k, 5.0 * k
    else:
        half_w, half_t = 8.0 * k, 3.0 * k
    cv.bone_ellipse("bone", cv.cx, y, half_w, half_t)


def _paint_clavicles(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    z0 = an.z_of_std(an.landmarks["clavicle"])
    t0, t1 = (sec.z - z0 + 2.0) / 16.0, (sec.z - z0 + 14.0) / 16.0  # lateral end higher
    t0, t1 = max(t0, 0.0), min(t1, 1.0)
    if t0 >= t1:
        return
    _, y_front = out.at("frame", np.pi, True)
    for right in (True, False):
        side = -1.0 if right else 1.0
        medial = (cv.cx + side * 20.0 * an.lr_scale, cv.cy + y_front + 12.0)
        lx, ly = out.at("frame", 1.75, right)
        lateral = (cv.cx + lx * 0.88, cv.cy + ly * 0.88)
        p0 = (medial[0] + (lateral[0] - medial[0]) * t0, medial[1] + (lateral[1] - medial[1]) * t0)
        p1 = (medial[0] + (lateral[0] - medial[0]) * t1, medial[1] + (lateral[1] - medial[1]) * t1)
        cv.bone_capsule("bone", p0, p1, 6.0 * an.lr_scale)


def _paint_scapulae(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    t = _span(sec.s, an.landmarks["scapula_top"], an.landmarks["scapula_bottom"])
    if t is None:
        return
    reach = 1.0 if t < 0.55 else max(0.12, 1.0 - (t - 0.55) / 0.45 * 0.88)
    for right in (True, False):
        points = []
        for psi in np.linspace(0.5, 0.5 + 0.95 * reach, 5):
            ix, iy = out.at("inner", float(psi), right)
            fx, fy = out.at("frame", float(psi), right)
            depth = (sec.rib_layer + 2.0) / max(np.hypot(fx - ix, fy - iy), 1.0)
            w = min(depth + 0.35, 0.8)
            points.append((cv.cx + ix + (fx - ix) * w, cv.cy + iy + (fy - iy) * w))
        for p0, p1 in zip(points, points[1:], strict=False):
            cv.capsule("bone_cortex", p0, p1, 2.5 * an.lr_scale)
        if t < 0.3:  # spine of the scapula and the glenoid
            cv.capsule("bone_cortex", points[2], (points[2][0], points[2][1] + 14.0), 4.0)
            cv.bone_ellipse("bone", *points[-1], 12.0 * an.lr_scale, 12.0 * an.lr_scale)

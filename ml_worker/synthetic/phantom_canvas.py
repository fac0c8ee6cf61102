"""Drawing surface of the phantom painters.

A slice is painted back to front into a map of structure ids; later
structures overwrite earlier ones, optionally only over named structures.
`_Canvas` holds that map on a mm grid with each pixel's polar coordinates
around the body centre and paints ellipses, capsules and bones (cortex and
marrow). `_Outline` holds the per-angle radii of the skin, muscle fascia and
inner wall; `_cavity`, `_span` and `_window_of` are the shared geometry helpers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ml_worker.synthetic.phantom_tissues import ID

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


def _window_of(cv: _Canvas, reach: float) -> _Win | None:
    return cv.window(cv.cx - reach, cv.cx + reach, cv.cy - reach, cv.cy + reach)


def _span(s: float, lo: float, hi: float) -> float | None:
    """Fraction of the way through [lo, hi] (standard levels), None outside."""
    return (s - lo) / (hi - lo) if lo < s < hi else None


def _cavity(cv: _Canvas, out: _Outline) -> tuple[float, float, float]:
    """Half-width and front/back depths (mm) of the space inside the muscle wall."""
    left, right = out.at("inner", np.pi / 2, False)[0], -out.at("inner", np.pi / 2, True)[0]
    return (left + right) / 2, -out.at("inner", np.pi, True)[1], out.at("inner", 0.35, True)[1]

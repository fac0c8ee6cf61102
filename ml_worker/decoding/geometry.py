"""Slice positions → the axis the decoder measures lengths on, plus gap/order flags."""

from dataclasses import dataclass

import numpy as np

from ml_worker.decoding.result import GAP, UNORDERED, Flag


@dataclass(frozen=True)
class Geometry:
    """`axis[i]` is slice i's distance in mm from slice 0 along the series, ascending. For
    an unordered series, lengths are unknowable, so slices are assumed evenly spaced."""

    axis: np.ndarray
    spacing: float  # median step between consecutive slices, mm
    ordered: bool
    flags: list[Flag]


def series_geometry(positions_mm: np.ndarray, gap_factor: float = 1.5) -> Geometry:
    pos = np.asarray(positions_mm, dtype=np.float64)
    if pos.ndim != 1 or not np.all(np.isfinite(pos)):
        raise ValueError("positions_mm must be one finite position per slice")
    if pos.size < 2:
        return Geometry(np.zeros(pos.size), 1.0, True, [])
    steps = np.diff(pos)
    moving = np.abs(steps[steps != 0])
    spacing = float(np.median(moving)) if moving.size else 1.0
    ordered = bool(np.all(steps > 0) or np.all(steps < 0))
    if not ordered:
        flag = _unordered_flag(steps)
        return Geometry(spacing * np.arange(pos.size, dtype=np.float64), spacing, False, [flag])
    axis = np.abs(pos - pos[0])
    return Geometry(axis, spacing, True, _gap_flags(np.abs(steps), spacing, gap_factor))


def _unordered_flag(steps: np.ndarray) -> Flag:
    dup = np.flatnonzero(steps == 0)
    turns = np.flatnonzero(np.sign(steps[1:]) * np.sign(steps[:-1]) < 0) + 1
    at = int(min(dup.min(initial=steps.size), turns.min(initial=steps.size)))
    what = []
    if dup.size:
        what.append(f"{dup.size} duplicate position(s)")
    if turns.size:
        what.append(f"{turns.size} change(s) of direction")
    return Flag(
        UNORDERED,
        f"Slice positions are not monotone ({', '.join(what)}), first at slice {at}: "
        "possibly a mixed or merged series. Lengths assume even spacing.",
        first=at,
        last=at + 1,
    )


def _gap_flags(steps: np.ndarray, spacing: float, factor: float) -> list[Flag]:
    return [
        Flag(
            GAP,
            f"{steps[i]:.1f} mm between slices {i} and {i + 1} "
            f"({steps[i] / spacing:.1f}× the {spacing:.2f} mm spacing): missing slices.",
            first=int(i),
            last=int(i + 1),
        )
        for i in np.flatnonzero(steps > factor * spacing)
    ]

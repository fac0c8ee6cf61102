"""Series geometry from (de-identified) CT headers: where each slice lies along
the slice normal, so slices can be ordered whatever order they arrive in."""

import math
from dataclasses import dataclass

import numpy as np
from pydicom import Dataset


@dataclass(frozen=True)
class SliceGeometry:
    position_mm: float | None  # along the slice normal
    orientation: list[float] | None
    pixel_spacing_mm: list[float] | None
    thickness_mm: float | None
    rows: int | None
    columns: int | None


def _floats(value: object, count: int) -> list[float] | None:
    """Finite numbers only: headers can hold junk, NaN or 1e400, and none of
    those may reach the index (PostgreSQL JSON refuses NaN and Infinity)."""
    try:
        numbers = [float(v) for v in value]  # type: ignore[attr-defined]
    except (TypeError, ValueError, OverflowError):
        return None
    ok = len(numbers) == count and all(math.isfinite(n) for n in numbers)
    return numbers if ok else None


def _float(value: object) -> float | None:
    numbers = _floats([value], 1) if value not in (None, "") else None
    return numbers[0] if numbers else None


def slice_geometry(ds: Dataset) -> SliceGeometry:
    orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    position = _floats(ds.get("ImagePositionPatient"), 3)
    along_normal = None
    if orientation and position:
        # Plain floats: numpy costs more than the arithmetic for three numbers.
        (rx, ry, rz), (cx, cy, cz) = orientation[:3], orientation[3:]
        normal = (ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)
        along_normal = round(sum(n * p for n, p in zip(normal, position, strict=True)), 4)
    else:
        along_normal = _float(ds.get("SliceLocation"))
    if along_normal is not None and not math.isfinite(along_normal):
        along_normal = None  # finite inputs can still overflow in the dot product
    return SliceGeometry(
        position_mm=along_normal,
        orientation=orientation,
        pixel_spacing_mm=_floats(ds.get("PixelSpacing"), 2),
        thickness_mm=_float(ds.get("SliceThickness")),
        rows=int(ds.Rows) if "Rows" in ds else None,
        columns=int(ds.Columns) if "Columns" in ds else None,
    )


def spacing_between(positions: list[float]) -> float | None:
    """Median gap between sorted slice positions (robust to one missing slice)."""
    if len(positions) < 2:
        return None
    return round(float(np.median(np.diff(sorted(positions)))), 4)

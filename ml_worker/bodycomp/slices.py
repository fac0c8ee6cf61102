"""One CT slice ready for a segmenter: HU in standard orientation, the pixel
spacing in that orientation, and the way back to the stored pixel grid (the
grid of the DICOM SEG and of the masks in the job result)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ml_worker.preprocess import SeriesError, dataset_to_hu, to_standard_orientation

GridMap = Callable[[np.ndarray], np.ndarray]


@dataclass
class PreparedSlice:
    sop_instance_uid: str
    dataset: Dataset
    hu: np.ndarray  # standard orientation
    spacing_mm: tuple[float, float] | None  # (row, col) in standard orientation
    to_stored: GridMap
    issue: str | None = None  # why it cannot be segmented


def prepare_slice(ds: Dataset) -> PreparedSlice:
    uid = str(ds.SOPInstanceUID)
    if str(ds.get("Modality", "")) != "CT":
        raise SeriesError("not_ct", f"instance {uid} is not CT")
    hu = dataset_to_hu(ds)
    orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    spacing = _floats(ds.get("PixelSpacing"), 2)
    if orientation is None:
        return PreparedSlice(uid, ds, hu, None, _identity, "missing_geometry")
    standard = to_standard_orientation(hu, orientation)
    back = _inverse(hu.shape, orientation)
    if spacing is None or min(spacing) <= 0:
        return PreparedSlice(uid, ds, standard, None, back, "missing_pixel_spacing")
    row, col = spacing
    if abs(orientation[1]) > abs(orientation[0]):  # transposed into standard orientation
        row, col = col, row
    return PreparedSlice(uid, ds, standard, (row, col), back)


def _floats(value: Any, count: int) -> list[float] | None:
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(np.isfinite(numbers)) else None


def _identity(mask: np.ndarray) -> np.ndarray:
    return mask


def _inverse(shape: tuple[int, ...], orientation: list[float]) -> GridMap:
    """Exact inverse of `to_standard_orientation` for this slice: push an index
    grid through it and scatter back."""
    index = np.arange(shape[0] * shape[1]).reshape(shape)
    moved = to_standard_orientation(index, orientation)

    def to_stored(mask: np.ndarray) -> np.ndarray:
        out = np.empty(shape[0] * shape[1], dtype=mask.dtype)
        out[moved.ravel()] = mask.ravel()
        return out.reshape(shape)

    return to_stored

"""CT slices to classifier inputs: HU, series ordering, in-plane orientation,
three-window channels and resizing. No Django, no network.

Input contract of the classifier: a float32 tensor [3, S, S] whose channels are
the bone (L300/W1500), soft-tissue (L40/W400) and lung (L-600/W1500) windows,
each scaled to [0, 1], of an axial slice shown in the standard radiological
orientation (patient right on image left, anterior at the top). Training and
inference both go through `hu_to_input`, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydicom.dataset import Dataset

# (level, width) in HU, in channel order.
WINDOWS: tuple[tuple[float, float], ...] = ((300.0, 1500.0), (40.0, 400.0), (-600.0, 1500.0))
AIR_HU = -1024.0  # fills the padding of non-square slices: every window maps it to 0
STANDARD_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # rows run +x (left), columns +y (posterior)

ORIENTATION_TOLERANCE = 1e-3  # direction cosines; scanners write ~6 decimals
DUPLICATE_TOLERANCE_MM = 1e-2  # slice positions closer than this are the same slice
MIN_AXIAL_COSINE = 0.5  # |normal · z| below this (tilt > 60°) is not an axial series


class SeriesError(Exception):
    """A series the classifier must refuse; `code` is stable for the platform to match on.

    Codes: empty, not_ct, multi_frame, missing_geometry, inconsistent_orientation,
    not_axial, duplicate_position.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- HU -------------------------------------------------------------------------------


def dataset_to_hu(ds: Dataset) -> np.ndarray:
    """Hounsfield units of a single-frame CT slice as float32 [rows, cols].

    `pixel_array` applies PixelRepresentation (signed/unsigned) and decodes the
    compressed transfer syntaxes pydicom has plugins for (JPEG 2000 needs
    pylibjpeg-openjpeg). Absent RescaleSlope/Intercept mean the identity.
    """
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise SeriesError("multi_frame", "multi-frame (enhanced) CT is not supported")
    stored = ds.pixel_array
    if stored.ndim != 2:
        raise SeriesError("multi_frame", f"expected one 2-D frame, got shape {stored.shape}")
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    return (stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(
        np.float32, copy=False
    )


# --- Series geometry -------------------------------------------------------------------


def sort_slices(datasets: Iterable[Dataset]) -> list[Dataset]:
    """Order an axial CT series superior → inferior along the slice normal.

    The normal is row × column of ImageOrientationPatient and the position is
    ImagePositionPatient projected on it; InstanceNumber and SliceLocation are
    not trusted (both are often reset or absent). Raises `SeriesError` for
    non-CT objects, missing geometry, mixed orientations, non-axial series and
    two slices at one position (usually two series or acquisitions mixed).
    """
    items = list(datasets)
    if not items:
        raise SeriesError("empty", "no slices")
    for ds in items:
        _check_ct(ds)
    orientations = np.stack([_orientation(ds) for ds in items])
    if np.abs(orientations - orientations[0]).max() > ORIENTATION_TOLERANCE:
        raise SeriesError("inconsistent_orientation", "slices differ in ImageOrientationPatient")
    normal = np.cross(orientations[0, :3], orientations[0, 3:])
    if abs(normal[2]) < MIN_AXIAL_COSINE:
        raise SeriesError("not_axial", f"slice normal {np.round(normal, 3).tolist()} is not axial")
    # Patient z (LPS) grows superiorly, so sort by descending height along the normal.
    heights = np.array([_position(ds) @ normal for ds in items]) * np.sign(normal[2])
    order = np.argsort(-heights, kind="stable")
    gaps = np.abs(np.diff(heights[order]))
    if np.any(gaps < DUPLICATE_TOLERANCE_MM):
        first = int(np.argmax(gaps < DUPLICATE_TOLERANCE_MM))
        raise SeriesError(
            "duplicate_position",
            f"two slices at {heights[order][first]:.2f} mm along the normal",
        )
    return [items[i] for i in order]


def _check_ct(ds: Dataset) -> None:
    modality = str(ds.get("Modality", ""))
    if modality != "CT":
        raise SeriesError("not_ct", f"modality {modality or 'missing'!r} is not CT")


def _orientation(ds: Dataset) -> np.ndarray:
    value = ds.get("ImageOrientationPatient")
    if value is None or len(value) != 6:
        raise SeriesError("missing_geometry", "ImageOrientationPatient missing or malformed")
    return np.asarray([float(v) for v in value], dtype=np.float64)


def _position(ds: Dataset) -> np.ndarray:
    value = ds.get("ImagePositionPatient")
    if value is None or len(value) != 3:
        raise SeriesError("missing_geometry", "ImagePositionPatient missing or malformed")
    return np.asarray([float(v) for v in value], dtype=np.float64)


def to_standard_orientation(
    pixels: np.ndarray, orientation: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Transpose/flip a slice so rows run toward patient left (+x) and columns
    toward posterior (+y), as a head-first supine scan is stored.

    Feet-first or prone scans store mirrored images; a classifier trained on one
    orientation would see them as other anatomy.
    """
    row = np.asarray(orientation[:3], dtype=np.float64)
    col = np.asarray(orientation[3:6], dtype=np.float64)
    out = pixels
    if abs(row[1]) > abs(row[0]):  # rows run along y: the image is transposed
        out, row, col = out.T, col, row
    if row[0] < 0:
        out = out[:, ::-1]
    if col[1] < 0:
        out = out[::-1, :]
    return np.ascontiguousarray(out)


# --- Model input -----------------------------------------------------------------------


def window_channels(hu: np.ndarray) -> np.ndarray:
    """[rows, cols] HU → float32 [3, rows, cols], each window linear onto [0, 1]."""
    hu = np.asarray(hu, dtype=np.float32)
    channels = np.empty((len(WINDOWS), *hu.shape), dtype=np.float32)
    for index, (level, width) in enumerate(WINDOWS):
        np.subtract(hu, level - width / 2, out=channels[index])
        channels[index] *= np.float32(1.0 / width)
    return np.clip(channels, 0.0, 1.0, out=channels)


def pad_to_square(hu: np.ndarray) -> np.ndarray:
    """Centre a non-square slice on air so resizing keeps its aspect ratio."""
    rows, cols = hu.shape
    if rows == cols:
        return hu
    side = max(rows, cols)
    out = np.full((side, side), AIR_HU, dtype=np.float32)
    top, left = (side - rows) // 2, (side - cols) // 2
    out[top : top + rows, left : left + cols] = hu
    return out


def hu_to_input(hu: np.ndarray, size: int) -> torch.Tensor:
    """HU slice (already in standard orientation) → float32 tensor [3, size, size].

    Windows before resizing, so downsampling averages what a reader would see
    rather than raw HU; antialiasing keeps thin cortical bone from aliasing away.
    """
    if hu.ndim != 2:
        raise ValueError(f"expected a 2-D HU slice, got shape {hu.shape}")
    channels = torch.from_numpy(window_channels(pad_to_square(np.asarray(hu, np.float32))))
    if channels.shape[-1] == size:
        return channels
    return F.interpolate(
        channels[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )[0]


def dataset_to_input(ds: Dataset, size: int) -> torch.Tensor:
    """One CT dataset → classifier input [3, size, size] in standard orientation."""
    _check_ct(ds)
    hu = to_standard_orientation(dataset_to_hu(ds), _orientation(ds))
    return hu_to_input(hu, size)


def to_input(item: Any, size: int) -> torch.Tensor:
    """Classifier input from a HU array or a pydicom dataset (what series inference accepts)."""
    if isinstance(item, Dataset):
        return dataset_to_input(item, size)
    if isinstance(item, np.ndarray):
        return hu_to_input(item, size)
    raise TypeError(f"expected a HU numpy array or a pydicom Dataset, got {type(item).__name__}")

"""Pixel data of the synthetic writer: HU to stored values (rescale intercept
-1024, unsigned 12-bit or signed 16-bit), native or encapsulated encoding, the
CT pixel module attributes, and burned-in text stripes.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, JPEG2000Lossless, JPEGLSLossless, RLELossless

_ENCAPSULATED = frozenset({RLELossless, JPEG2000Lossless, JPEGLSLossless})

RESCALE_INTERCEPT = -1024


def _add_ct_pixel_module(ds: Dataset, stored: np.ndarray, pixel_representation: int) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12 if pixel_representation == 0 else 16
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = pixel_representation
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = ["40", "-600"]
    ds.WindowWidth = ["400", "1500"]
    ds.WindowCenterWidthExplanation = ["ABDOMEN", "LUNG"]
    ds.LossyImageCompression = "00"


def _stored_pixels(hu: np.ndarray, pixel_representation: int) -> np.ndarray:
    """HU to stored values (HU = stored + intercept), refusing values that wrap."""
    if pixel_representation not in (0, 1):
        raise ValueError("pixel_representation must be 0 (unsigned) or 1 (signed)")
    stored = hu.astype(np.int32) - RESCALE_INTERCEPT
    low, high, dtype = (
        (0, 4095, np.uint16) if pixel_representation == 0 else (-32768, 32767, np.int16)
    )
    if stored.min() < low or stored.max() > high:
        raise ValueError(f"HU outside the range stored values {low}..{high} can represent")
    return stored.astype(dtype)


def _set_pixel_data(ds: Dataset, stored: np.ndarray, ts: UID) -> None:
    if ts in _ENCAPSULATED:
        # Keep our deterministic SOP Instance UID; pydicom would mint a new one.
        ds.compress(ts, arr=stored, generate_instance_uid=False)
        return
    ds.file_meta.TransferSyntaxUID = ts
    ds.PixelData = stored.tobytes()


def _burn_in_text(hu: np.ndarray, *, value: int) -> np.ndarray:
    """Text-like vertical stripes in the top-left corner, like a scanner overlay."""
    out = hu.copy()
    rows, cols = hu.shape
    height, width = max(rows // 16, 2), max(cols // 4, 4)
    out[2 : 2 + height, 2 : 2 + width : 2] = value
    return out


def _default_capture() -> np.ndarray:
    image = np.tile((np.arange(64) * 4).astype(np.uint8), (64, 1))
    return _burn_in_text(image, value=255)

"""The one interface every body-composition segmenter implements, and the
factory the task uses to pick one by method name."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ml_worker.bodycomp.tissues import TissueMasks

METHODS = ("threshold", "network")


@runtime_checkable
class Segmenter(Protocol):
    """Segments one axial CT slice in standard orientation (anterior up,
    patient right on image left) into the four tissues.

    `hu`: float [H, W] Hounsfield units; `spacing_mm`: (row, column) pixel
    spacing, the DICOM PixelSpacing order. Masks come back in the same grid.
    `name` and `version` go into every result."""

    name: str
    version: str

    def segment(self, hu: np.ndarray, spacing_mm: tuple[float, float]) -> TissueMasks: ...

"""Compact masks for the job result: one uint8 label map per slice
(0 background, 1 muscle, 2 IMAT, 3 SAT, 4 VAT; see `Tissue`), row-major in
the slice's stored pixel grid, zlib-compressed and base64-encoded. A 512x512
slice costs a few KiB, so the viewer gets every mask in the result and can
draw, correct and send them back without reading the DICOM SEG."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

from ml_worker.bodycomp.tissues import TISSUES, TissueMasks

ENCODING = "zlib+base64:uint8-labelmap"
LABELS = {str(int(t)): t.key for t in TISSUES}


def encode_masks(masks: TissueMasks) -> dict[str, Any]:
    labels = np.ascontiguousarray(masks.label_map())
    return {
        "shape": list(labels.shape),
        "data": base64.b64encode(zlib.compress(labels.tobytes(), 6)).decode("ascii"),
    }


def decode_masks(encoded: dict[str, Any]) -> TissueMasks:
    rows, cols = (int(v) for v in encoded["shape"])
    raw = zlib.decompress(base64.b64decode(encoded["data"]))
    if len(raw) != rows * cols:
        raise ValueError("mask data does not match its shape")
    return TissueMasks.from_label_map(np.frombuffer(raw, dtype=np.uint8).reshape(rows, cols))

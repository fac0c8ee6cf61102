"""Class activation maps stored with a classification: one slice's map out of
the zlib-compressed uint8 [slices, h, w] block, as an 8-bit grayscale PNG
(the viewer applies the colour map)."""

import io
import zlib

import numpy as np
from PIL import Image

from analysis.models import SeriesLevels


def cam_count(levels: SeriesLevels) -> int:
    shape = levels.cam_shape or []
    return int(shape[0]) if len(shape) == 3 else 0


def cam_slice(levels: SeriesLevels, index: int) -> np.ndarray:
    """The [h, w] map of slice `index`; IndexError when there is none. Only
    the compressed stream up to that slice is inflated."""
    if not 0 <= index < cam_count(levels):
        raise IndexError(index)
    _, height, width = (int(v) for v in levels.cam_shape)
    size = height * width
    need = (index + 1) * size
    inflater = zlib.decompressobj()
    data = inflater.decompress(bytes(levels.cams), need)
    while len(data) < need and inflater.unconsumed_tail:
        data += inflater.decompress(inflater.unconsumed_tail, need - len(data))
    if len(data) < need:
        raise IndexError(index)  # stored maps shorter than their declared shape
    return np.frombuffer(data[index * size : need], dtype=np.uint8).reshape(height, width)


def png_gray(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()

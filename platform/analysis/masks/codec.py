"""Validation of the compact label maps the viewer sends back: the encoding of
ml_worker/bodycomp/codec.py (uint8 [rows, cols], row-major, zlib, base64;
values 0 background, 1 muscle, 2 IMAT, 3 SAT, 4 VAT). The platform never
imports ml_worker, so the few lines of decoding live here too. Every check
raises ApplicationError (400) naming the slice."""

import base64
import binascii
import zlib
from typing import Any

import numpy as np

from core.errors import ApplicationError

MAX_LABEL = 4
MAX_SIDE = 2048
MAX_ENCODED_CHARS = 2 * 1024 * 1024  # real masks are a few KiB; below Django's 2.5 MB body cap
MAX_SLICES = 64


def decode_labels(item: dict[str, Any], expected_shape: tuple[int, int]) -> np.ndarray:
    """The uint8 label map of one slice, checked against the slice's shape."""
    uid = str(item.get("sop_instance_uid", ""))
    shape = item.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
    ):
        raise ApplicationError("shape must be [rows, columns].", extra={"slice": uid})
    if tuple(shape) != tuple(expected_shape):
        raise ApplicationError(
            f"The mask of slice {uid} must be {expected_shape[0]}x{expected_shape[1]}, "
            "the slice's pixel grid.",
            extra={"slice": uid, "shape": shape, "expected": list(expected_shape)},
        )
    data = item.get("data")
    if not isinstance(data, str) or not data:
        raise ApplicationError("data must be the zlib+base64 label map.", extra={"slice": uid})
    if len(data) > MAX_ENCODED_CHARS:
        raise ApplicationError(
            f"The mask of slice {uid} is larger than {MAX_ENCODED_CHARS} characters.",
            extra={"slice": uid},
        )
    size = shape[0] * shape[1]
    try:
        # Bounded: a zlib bomb never inflates past one byte more than expected.
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(data, validate=True), size + 1)
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise ApplicationError(
            f"The mask of slice {uid} is not valid zlib+base64 data.", extra={"slice": uid}
        ) from exc
    if len(raw) != size or inflater.unconsumed_tail:
        raise ApplicationError(
            f"The mask of slice {uid} does not hold {size} pixels.", extra={"slice": uid}
        )
    labels = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
    if int(labels.max(initial=0)) > MAX_LABEL:
        raise ApplicationError(
            f"Mask values must be 0 to {MAX_LABEL} (slice {uid}).", extra={"slice": uid}
        )
    return labels


def encode_labels(labels: np.ndarray) -> dict[str, Any]:
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    return {
        "shape": list(labels.shape),
        "data": base64.b64encode(zlib.compress(labels.tobytes(), 6)).decode("ascii"),
    }

"""Classify a whole series: per-slice probabilities and CAMs (one forward pass
per batch, fetch overlapped), slices put in body-axis order, sequence
decoding into level ranges, and a DICOM SR of the result.

The result follows the documented schema `spine-levels/1`:

    {"schema": "spine-levels/1",
     "model": {"name", "version", "sha256"},
     "slices": {"sop_instance_uids", "positions_mm", "levels", "confidence",
                "probabilities"},            # all in body-axis order, superior first
     "ranges": [LevelRange.to_dict(), ...], "flags": [Flag.to_dict(), ...],
     "reversed": bool,
     "cams": {"shape": [N, h, w], "encoding": "zlib+base64", "data": str},
     "sr": {"sop_instance_uid", "series_instance_uid"} | null,
     "timings": {stage: seconds}}"""

import base64
import hashlib
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np
import torch
from pydicom import Dataset

from ml_worker.decoding import SeriesDecoding, decode_series
from ml_worker.inference import predict_series
from ml_worker.model import Checkpoint
from ml_worker.preprocess import sort_slices
from ml_worker.registry import ModelRecord
from ml_worker.sr import build_level_sr

SCHEMA = "spine-levels/1"
Progress = Callable[[float, str], None]


@dataclass
class SeriesInput:
    """Instances in arrival order; `headers` fills up (pixels dropped) as they stream."""

    instances: Iterable[Dataset]
    headers: list[Dataset]


def body_axis_order(headers: list[Dataset]) -> tuple[np.ndarray, np.ndarray]:
    """Indices that put slices superior → inferior (validating the series:
    CT, one orientation, axial, no duplicate positions), and their z in mm."""
    ordered = sort_slices(headers)
    index = {id(h): i for i, h in enumerate(headers)}
    order = np.array([index[id(h)] for h in ordered], dtype=np.int64)
    # sort_slices guarantees an axial series, so patient z is the body axis.
    positions = np.array([float(h.ImagePositionPatient[2]) for h in ordered])
    return order, positions


def derived_uid(*parts: str) -> str:
    """A deterministic UID, so a retried job stores the same SR again (no duplicate)."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def classify_series(
    series: SeriesInput,
    checkpoint: Checkpoint,
    record: ModelRecord,
    *,
    device: torch.device,
    batch_size: int = 8,
    cam_size: tuple[int, int] = (64, 64),
    progress: Progress | None = None,
) -> tuple[dict[str, Any], Dataset]:
    """Run the whole pipeline; return the result and the SR to store."""
    timings: dict[str, float] = {}
    started = perf_counter()
    prediction = predict_series(
        checkpoint.model, series.instances, batch_size=batch_size, device=device, cam_size=cam_size
    )
    timings["fetch_and_forward"] = perf_counter() - started
    _report(progress, 0.8, f"classified {len(series.headers)} slices")
    order, positions = body_axis_order(series.headers)
    probs = prediction.probs[order]
    discs = None if prediction.disc_probs is None else prediction.disc_probs[order]
    mark = perf_counter()
    decoding = decode_series(probs, positions, disc_probs=discs)
    timings["decode"] = perf_counter() - mark
    headers = [series.headers[i] for i in order]
    mark = perf_counter()
    sr = _level_sr(headers, decoding, record)
    timings["sr"] = perf_counter() - mark
    timings.update({f"model_{k}": v for k, v in prediction.timings.to_json().items()})
    timings["total"] = perf_counter() - started
    cams = prediction.cams[order] if prediction.cams is not None else np.zeros((0, *cam_size))
    result = {
        "schema": SCHEMA,
        "model": {"name": record.name, "version": record.version, "sha256": record.sha256},
        "slices": {
            "sop_instance_uids": [str(h.SOPInstanceUID) for h in headers],
            "positions_mm": [round(float(p), 3) for p in positions],
            "levels": decoding.level_names,
            "confidence": [round(float(c), 4) for c in decoding.confidence],
            "probabilities": np.round(probs.astype(np.float64), 4).tolist(),
            "disc_probability": None if discs is None else np.round(discs, 4).tolist(),
        },
        "ranges": [r.to_dict() for r in decoding.ranges],
        "flags": [f.to_dict() for f in decoding.flags],
        "reversed": decoding.reversed,
        "cams": _encode_cams(cams),
        "sr": {
            "sop_instance_uid": str(sr.SOPInstanceUID),
            "series_instance_uid": str(sr.SeriesInstanceUID),
        },
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    return result, sr


def _level_sr(headers: list[Dataset], decoding: SeriesDecoding, record: ModelRecord) -> Dataset:
    series_uid = str(headers[0].SeriesInstanceUID)
    return build_level_sr(
        headers,
        [r.to_dict() for r in decoding.ranges],
        model_name=record.name,
        model_version=record.version,
        flags=[(f.code, f.message) for f in decoding.flags],
        series_instance_uid=derived_uid(series_uid, record.name, record.version, "series"),
        sop_instance_uid=derived_uid(series_uid, record.name, record.version, "sr"),
    )


def _encode_cams(cams: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(cams, dtype=np.uint8)
    return {
        "shape": list(data.shape),
        "encoding": "zlib+base64",
        "data": base64.b64encode(zlib.compress(data.tobytes(), 6)).decode(),
    }


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)

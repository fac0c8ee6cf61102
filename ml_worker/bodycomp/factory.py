"""Pick a segmenter by method name; network models come from the local
registry (or a checkpoint file) and stay loaded per worker process."""

from __future__ import annotations

from pathlib import Path

from ml_worker import registry
from ml_worker.bodycomp.model_store import DEFAULT_NAME, load_seg_model
from ml_worker.bodycomp.network import NetworkSegmenter, load_seg_checkpoint
from ml_worker.bodycomp.segmenter import METHODS, Segmenter
from ml_worker.bodycomp.threshold import ThresholdSegmenter
from ml_worker.runtime import select_device

THRESHOLD = ThresholdSegmenter()
# Loaded networks per worker process, keyed by file hash (as the classifier's).
_LOADED: dict[str, tuple[registry.ModelRecord, NetworkSegmenter]] = {}


def segmenter_from_registry(
    root: Path, name: str = DEFAULT_NAME, version: str | None = None
) -> NetworkSegmenter:
    record = registry.resolve(Path(root), name, version)
    if record.sha256 not in _LOADED:
        device = select_device()
        model, config = load_seg_model(Path(root), record, device)
        segmenter = NetworkSegmenter(
            model, config, name=name, version=record.version, device=device
        )
        _LOADED[record.sha256] = (record, segmenter)
    return _LOADED[record.sha256][1]


def segmenter_from_checkpoint(path: Path) -> NetworkSegmenter:
    device = select_device()
    model, config, _ = load_seg_checkpoint(Path(path), map_location=device)
    return NetworkSegmenter(model, config, name=Path(path).stem, version="file", device=device)


def make_segmenter(
    method: str, *, root: Path, name: str = DEFAULT_NAME, version: str | None = None
) -> tuple[Segmenter, str | None]:
    """The segmenter for `method` and, for a network, its file's sha256."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if method == "threshold":
        return THRESHOLD, None
    segmenter = segmenter_from_registry(root, name, version)
    sha = next(rec.sha256 for rec, seg in _LOADED.values() if seg is segmenter)
    return segmenter, sha

"""Batched inference over one CT series, with input prefetching.

A background thread pulls slices from the caller's iterator (which may be slow:
DICOMweb reads, JPEG 2000 decoding), preprocesses them and stacks batches into
a bounded queue, so fetching batch i+1 overlaps the forward pass of batch i.
Slices are classified in the order given: sort the series first (`sort_slices`).

Worker result schema (`SeriesPrediction.to_json`, schema "ml_worker.series_prediction/1"):

    {
      "schema": "ml_worker.series_prediction/1",
      "labels": ["Cervical", "T1", ..., "Sacral"],   # column order of every probs row
      "n_slices": N,
      "probs": [[p_0, ..., p_18], ...],              # N rows, input order, rounded
      "predicted": [k, ...],                         # argmax class index per slice
      "cams": null | {
        "height": h, "width": w, "dtype": "uint8", "encoding": "base64",
        "class_index": [k, ...],                     # the class each map explains
        "data": ["<base64 of h*w bytes, row-major>", ...]   # one per slice, 0..255
      },
      "disc_probs": null | [q, ...],     # P(slice cuts a disc), models with a disc output
      "model": {"arch": ..., "input_size": ..., "num_classes": ..., "dropout": ...,
                "disc_output": bool},
      "device": "cuda" | "cpu", "batch_size": B,
      "timings_s": {"fetch": ..., "preprocess": ..., "wait": ..., "forward": ...,
                    "cam": ..., "total": ..., "batches": n}
    }

A 64×64 map is 4 KiB (5.5 KiB as base64) per slice. Timings: fetch and
preprocess run in the producer thread; wait is the part of them the consumer
did not hide; forward and cam are device time (synchronised on CUDA).
"""

from __future__ import annotations

import base64
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np
import torch
from pydicom.dataset import Dataset

from ml_worker.levels import FINE_LEVELS
from ml_worker.model import LevelClassifier, inference_context, prepare_for_inference
from ml_worker.preprocess import to_input
from ml_worker.runtime import select_device

SCHEMA = "ml_worker.series_prediction/1"
SliceSource = Iterable[np.ndarray] | Iterable[Dataset] | Iterable[np.ndarray | Dataset]


@dataclass
class StageTimings:
    fetch_s: float = 0.0
    preprocess_s: float = 0.0
    wait_s: float = 0.0
    forward_s: float = 0.0
    cam_s: float = 0.0
    total_s: float = 0.0
    batches: int = 0

    def to_json(self) -> dict[str, float | int]:
        return {
            "fetch": round(self.fetch_s, 4),
            "preprocess": round(self.preprocess_s, 4),
            "wait": round(self.wait_s, 4),
            "forward": round(self.forward_s, 4),
            "cam": round(self.cam_s, 4),
            "total": round(self.total_s, 4),
            "batches": self.batches,
        }


@dataclass
class SeriesPrediction:
    probs: np.ndarray  # [N, K] float32, rows sum to 1
    cams: np.ndarray | None  # [N, h, w] uint8, 255 = the map's maximum
    cam_classes: np.ndarray | None  # [N] int64
    timings: StageTimings = field(default_factory=StageTimings)
    model: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    batch_size: int = 0
    # [N] P(the slice cuts a disc) when the model has a disc output; `probs` are then the
    # level probabilities given that it does not (softmax over the level logits alone).
    disc_probs: np.ndarray | None = None

    def to_json(self, *, decimals: int = 4) -> dict[str, Any]:
        """The worker's compact, JSON-serialisable result (schema in the module docstring)."""
        return {
            "schema": SCHEMA,
            "labels": list(FINE_LEVELS),
            "n_slices": int(self.probs.shape[0]),
            "probs": np.round(self.probs.astype(np.float64), decimals).tolist(),
            "predicted": self.probs.argmax(axis=1).tolist() if len(self.probs) else [],
            "cams": _cams_to_json(self.cams, self.cam_classes),
            "disc_probs": None
            if self.disc_probs is None
            else np.round(self.disc_probs.astype(np.float64), decimals).tolist(),
            "model": self.model,
            "device": self.device,
            "batch_size": self.batch_size,
            "timings_s": self.timings.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesPrediction:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"unknown result schema {data.get('schema')!r}")
        probs = np.asarray(data["probs"], dtype=np.float32).reshape(-1, len(data["labels"]))
        cams, classes = _cams_from_json(data["cams"])
        t = data["timings_s"]
        timings = StageTimings(
            t["fetch"], t["preprocess"], t["wait"], t["forward"], t["cam"], t["total"], t["batches"]
        )
        disc = data.get("disc_probs")
        return cls(
            probs, cams, classes, timings, data["model"], data["device"], data["batch_size"],
            None if disc is None else np.asarray(disc, dtype=np.float32),
        )  # fmt: skip


def _cams_to_json(cams: np.ndarray | None, classes: np.ndarray | None) -> dict[str, Any] | None:
    if cams is None or classes is None:
        return None
    return {
        "height": int(cams.shape[1]),
        "width": int(cams.shape[2]),
        "dtype": "uint8",
        "encoding": "base64",
        "class_index": classes.tolist(),
        "data": [base64.b64encode(m.tobytes()).decode("ascii") for m in cams],
    }


def _cams_from_json(data: dict[str, Any] | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    if data is None:
        return None, None
    shape = (len(data["data"]), data["height"], data["width"])
    raw = b"".join(base64.b64decode(s) for s in data["data"])
    cams = np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()
    return cams, np.asarray(data["class_index"], dtype=np.int64)


# --- Prefetching ------------------------------------------------------------------------


class _End:
    """Queue sentinel: the producer finished (with `error` if it failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class _Prefetcher:
    """Producer thread: iterator → preprocessed, stacked batches in a bounded queue."""

    def __init__(
        self,
        source: SliceSource,
        *,
        size: int,
        batch_size: int,
        depth: int,
        pin_memory: bool,
        timings: StageTimings,
    ) -> None:
        self._source = source
        self._size = size
        self._batch_size = batch_size
        self._pin = pin_memory
        self._timings = timings
        self._queue: queue.Queue[torch.Tensor | _End] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="series-prefetch", daemon=True)

    def __enter__(self) -> _Prefetcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        # Unblocks a producer stuck on a full queue when the consumer failed.
        self._stop.set()
        self._thread.join()

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            started = perf_counter()
            item = self._queue.get()
            self._timings.wait_s += perf_counter() - started
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    def _run(self) -> None:
        try:
            batch: list[torch.Tensor] = []
            for item in self._timed(iter(self._source)):
                started = perf_counter()
                batch.append(to_input(item, self._size))
                self._timings.preprocess_s += perf_counter() - started
                if len(batch) == self._batch_size:
                    self._put(self._stack(batch))
                    batch = []
            if batch:
                self._put(self._stack(batch))
            self._put(_End())
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(_End(exc))

    def _timed(self, items: Iterator[Any]) -> Iterator[Any]:
        while not self._stop.is_set():
            started = perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            self._timings.fetch_s += perf_counter() - started
            yield item

    def _stack(self, batch: list[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack(batch)
        return stacked.pin_memory() if self._pin else stacked

    def _put(self, item: torch.Tensor | _End) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


# --- Series inference -------------------------------------------------------------------


def predict_series(
    model: LevelClassifier,
    slices: SliceSource,
    *,
    batch_size: int = 8,
    device: torch.device | None = None,
    cam_size: tuple[int, int] = (64, 64),
    with_cams: bool = True,
    cam_classes: Sequence[int] | np.ndarray | None = None,
    prefetch_batches: int = 2,
) -> SeriesPrediction:
    """Classify every slice (HU arrays or CT datasets, in order) of one series.

    CAMs explain `cam_classes` (one per slice, e.g. from the series decoder) or
    the predicted class. The model is moved to `device` (default: CUDA when
    present), set to eval and channels_last, in place.
    """
    if batch_size < 1 or prefetch_batches < 1:
        raise ValueError("batch_size and prefetch_batches must be at least 1")
    device = device or select_device()
    model = prepare_for_inference(model, device)
    timings = StageTimings()
    started = perf_counter()
    probs: list[np.ndarray] = []
    cams: list[np.ndarray] = []
    classes: list[np.ndarray] = []
    discs: list[np.ndarray] = []
    prefetcher = _Prefetcher(
        slices,
        size=model.config.input_size,
        batch_size=batch_size,
        depth=prefetch_batches,
        pin_memory=device.type == "cuda",
        timings=timings,
    )
    offset = 0
    with prefetcher:
        for batch in prefetcher:
            wanted = _batch_classes(cam_classes, offset, len(batch))
            offset += len(batch)
            p, d, c, k = _run_batch(
                model, batch, device, cam_size if with_cams else None, wanted, timings
            )
            probs.append(p)
            if d is not None:
                discs.append(d)
            if c is not None and k is not None:
                cams.append(c)
                classes.append(k)
    timings.total_s = perf_counter() - started
    n_classes = model.config.num_classes
    return SeriesPrediction(
        probs=np.concatenate(probs) if probs else np.zeros((0, n_classes), np.float32),
        cams=_concat_or_empty(cams, (0, *cam_size), np.uint8) if with_cams else None,
        cam_classes=_concat_or_empty(classes, (0,), np.int64) if with_cams else None,
        timings=timings,
        model=model.config.to_dict(),
        device=device.type,
        batch_size=batch_size,
        disc_probs=_concat_or_empty(discs, (0,), np.float32) if model.config.disc_output else None,
    )


def _run_batch(
    model: LevelClassifier,
    batch: torch.Tensor,
    device: torch.device,
    cam_size: tuple[int, int] | None,
    wanted: torch.Tensor | None,
    timings: StageTimings,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """One batch: level probabilities, disc probabilities (models with a disc output),
    and uint8 CAMs when `cam_size` is given."""
    x = batch.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    with inference_context(device):
        started = perf_counter()
        activations = model.features(x)
        logits = model.logits(activations).float()
        levels = logits[:, : model.config.num_classes]
        probs = torch.softmax(levels, dim=1)
        disc = torch.softmax(logits, dim=1)[:, -1] if model.config.disc_output else None
        _synchronize(device)
        timings.forward_s += perf_counter() - started
        timings.batches += 1
        disc_np = None if disc is None else disc.cpu().numpy()
        if cam_size is None:
            return probs.cpu().numpy(), disc_np, None, None
        started = perf_counter()
        index = levels.argmax(dim=1) if wanted is None else wanted.to(device)
        maps = (model.cams(activations, index, cam_size) * 255.0).round_().to(torch.uint8)
        _synchronize(device)
        timings.cam_s += perf_counter() - started
    return (probs.cpu().numpy(), disc_np, maps.cpu().numpy(), index.cpu().numpy().astype(np.int64))


def _batch_classes(
    cam_classes: Sequence[int] | np.ndarray | None, offset: int, count: int
) -> torch.Tensor | None:
    if cam_classes is None:
        return None
    chunk = np.asarray(cam_classes[offset : offset + count], dtype=np.int64)
    if chunk.shape != (count,):
        raise ValueError("cam_classes needs one class index per slice")
    return torch.from_numpy(chunk)


def _concat_or_empty(parts: list[np.ndarray], empty: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(empty, dtype=dtype)


def _synchronize(device: torch.device) -> None:
    # Kernels run asynchronously on CUDA; without this the timings measure launches.
    if device.type == "cuda":
        torch.cuda.synchronize(device)

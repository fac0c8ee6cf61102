"""The per-slice baseline and the accuracy the decoder is judged by."""

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ml_worker.levels import INDEX


def argmax_levels(probs: ArrayLike) -> np.ndarray:
    """Per-slice baseline: each slice's most probable class, ignoring its neighbours."""
    p = np.asarray(probs)
    if p.ndim != 2:
        raise ValueError(f"probs must be [N, classes], got shape {p.shape}")
    return np.argmax(p, axis=1)


def slice_accuracy(pred: ArrayLike, truth: Sequence[int | str | None]) -> float:
    """Fraction of labelled slices predicted right; None (disc slices) is ignored. Truth
    may name levels ("T7") or give class indices."""
    pred_arr = np.asarray(pred)
    if pred_arr.shape != (len(truth),):
        raise ValueError(f"{pred_arr.size} predictions for {len(truth)} slices")
    keep = [i for i, t in enumerate(truth) if t is not None]
    if not keep:
        raise ValueError("no labelled slices to score")
    want = np.array([INDEX[t] if isinstance(t, str) else int(t) for t in (truth[i] for i in keep)])
    return float(np.mean(pred_arr[keep] == want))

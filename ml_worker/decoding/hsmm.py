"""A left-to-right hidden semi-Markov model over spine levels, vectorised in numpy.

A path is a sequence of contiguous segments with strictly increasing levels. Its score is
the summed per-slice log-likelihood, plus a log-normal length score per segment (a survival
score for segments cut by either end of the series), plus a penalty per skipped level.

The recursion runs over levels, not slices: for level k, every segment ending at slice t is
scored at once as a sliding window over a 1-D array, so the Python loop has 19 turns
whatever the series length. Backward quantities come from a forward sweep over the series
reversed in both slice and level order, which the model is symmetric under."""

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ml_worker.decoding.anatomy import lognormal_logpmf, lognormal_logsf

NEG_INF = -np.inf


@dataclass(frozen=True)
class LevelDurations:
    """Length scores of one bounded level, indexed by j = slices in the segment − 1.

    `pmf` is [D] when slices are evenly spaced, else [N, D] (row = last slice); −inf marks
    lengths beyond the longest plausible. `start_sf[t]` scores segment [0, t] and
    `end_sf[j]` segment [N-1-j, N-1]: both are cut by the field of view."""

    pmf: np.ndarray
    start_sf: np.ndarray
    end_sf: np.ndarray


@dataclass(frozen=True)
class Sweep:
    """Forward quantities per level k and slice: `entry[k, a]` scores everything before a
    segment of k that starts at a; `ended[k, t]` everything up to and including a segment of
    k that ends at t. With `maximise`, max replaces log-sum-exp and back-pointers are kept."""

    entry: np.ndarray
    ended: np.ndarray
    seg_len: np.ndarray | None = None  # j of the best segment of k ending at t
    prev: np.ndarray | None = None  # best level before a segment of k starting at a

    @property
    def score(self) -> float:
        return float(_reduce(self.ended[:, -1], axis=0, maximise=self.seg_len is not None))


def level_durations(
    positions: np.ndarray,
    spacing: float,
    median_mm: np.ndarray,
    sigma: float,
    max_mm: np.ndarray,
    bounded: np.ndarray,
) -> list[LevelDurations | None]:
    """Length scores per level for slices at ascending `positions` (mm); None where unbounded."""
    steps = np.diff(positions)
    even = steps.size == 0 or bool(np.all(np.abs(steps - spacing) <= 0.1 * spacing))
    out: list[LevelDurations | None] = []
    for k in range(len(median_mm)):
        if not bounded[k]:
            out.append(None)
        elif even:
            out.append(_even_durations(len(positions), spacing, median_mm[k], sigma, max_mm[k]))
        else:
            out.append(_uneven_durations(positions, spacing, median_mm[k], sigma, max_mm[k]))
    return out


def _even_durations(n: int, spacing: float, median: float, sigma: float, max_mm: float) -> LevelDurations:
    d = int(min(n, max(1, np.floor(max_mm / spacing))))
    lengths = spacing * np.arange(1, d + 1)
    sf = lognormal_logsf(lengths, median, sigma)
    return LevelDurations(lognormal_logpmf(lengths, median, sigma, spacing), sf, sf)


def _uneven_durations(pos: np.ndarray, spacing: float, median: float, sigma: float, max_mm: float) -> LevelDurations:
    n = pos.size
    # D = the most slices any segment within max_mm can hold.
    first_within = np.searchsorted(pos, pos + spacing - max_mm, side="left")
    d = int(max(1, np.max(np.arange(n) - first_within + 1)))
    lengths = pos[:, None] - _windows(pos, d, np.nan) + spacing
    with np.errstate(invalid="ignore"):
        ok = lengths <= max_mm
        pmf = np.where(ok, lognormal_logpmf(np.where(ok, lengths, median), median, sigma, spacing), NEG_INF)
    start_len = pos[:d] - pos[0] + spacing
    end_len = pos[-1] - pos[::-1][:d] + spacing
    return LevelDurations(pmf, _capped_sf(start_len, median, sigma, max_mm), _capped_sf(end_len, median, sigma, max_mm))


def _capped_sf(lengths: np.ndarray, median: float, sigma: float, max_mm: float) -> np.ndarray:
    return np.where(lengths <= max_mm, lognormal_logsf(lengths, median, sigma), NEG_INF)


def sweep(loglik: np.ndarray, durations: list[LevelDurations | None], step: np.ndarray, *, maximise: bool) -> Sweep:
    """Forward recursion. `step[g]` is the log score of advancing g ≥ 1 levels at once."""
    n, k_total = loglik.shape
    cum = np.vstack([np.zeros(k_total), np.cumsum(loglik, axis=0)])  # cum[i] = rows < i
    entry = np.full((k_total, n), NEG_INF)
    ended = np.full((k_total, n), NEG_INF)
    seg_len = np.zeros((k_total, n), dtype=np.int64) if maximise else None
    prev = np.zeros((k_total, n), dtype=np.int64) if maximise else None
    for k in range(k_total):
        entry[k, 0] = 0.0  # a series may start at any level
        if k > 0 and n > 1:
            cand = ended[:k, :-1] + step[k - np.arange(k)][:, None]
            entry[k, 1:] = _reduce(cand, axis=0, maximise=maximise)
            if prev is not None:
                prev[k, 1:] = np.argmax(cand, axis=0)
        # Everything before a segment starting at a, minus the evidence up to a: adding the
        # evidence up to t then scores the segment [a, t] without a 2-D cumulative sum.
        before = entry[k] - cum[:-1, k]
        dur = durations[k]
        if k == 0:  # the first level only starts at slice 0 (nothing precedes it)
            ended[0] = cum[1:, 0]
            if seg_len is not None:
                seg_len[0] = np.arange(n)
        elif dur is None:  # the last level only ends at the last slice (nothing follows it)
            ended[k, -1] = cum[-1, k] + _reduce(before, axis=0, maximise=maximise)
            if seg_len is not None:
                seg_len[k, -1] = n - 1 - int(np.argmax(before))
        else:
            best, j = _band(before, dur, maximise=maximise)
            ended[k] = cum[1:, k] + best
            if seg_len is not None:
                seg_len[k] = j
    return Sweep(entry, ended, seg_len, prev)


def _band(before: np.ndarray, dur: LevelDurations, *, maximise: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Best (or summed) score over segment lengths for every last slice t at once."""
    n = before.size
    d = dur.pmf.shape[-1]
    inner = before.copy()
    inner[0] = NEG_INF  # segments from slice 0 are cut by the field of view: scored below
    window = _windows(inner, d, NEG_INF)  # window[t, j] = inner[t - j]
    scores = window + dur.pmf
    scores[-1] = window[-1] + dur.end_sf  # the last segment is cut by the field of view too
    best = _reduce(scores, axis=1, maximise=maximise)
    j = np.argmax(scores, axis=1) if maximise else None
    m = min(d, n)
    from_start = before[0] + dur.start_sf[:m]
    if maximise:
        wins = from_start > best[:m]
        best[:m] = np.where(wins, from_start, best[:m])
        j[:m] = np.where(wins, np.arange(m), j[:m])
    else:
        best[:m] = np.logaddexp(best[:m], from_start)
    return best, j


def backtrack(sw: Sweep) -> np.ndarray:
    """The best path as one level per slice."""
    assert sw.seg_len is not None and sw.prev is not None
    n = sw.ended.shape[1]
    path = np.empty(n, dtype=np.int64)
    k, t = int(np.argmax(sw.ended[:, -1])), n - 1
    while True:
        a = t - int(sw.seg_len[k, t])
        path[a : t + 1] = k
        if a == 0:
            return path
        k, t = int(sw.prev[k, a]), a - 1


def marginals(fwd: Sweep, bwd: Sweep) -> np.ndarray:
    """Posterior P(level of slice i = k), [N, K], from a forward sweep and one over the
    series reversed in slice and level order (whose `ended` is this one's backward score)."""
    z = fwd.score
    after_start = bwd.ended[::-1, ::-1]  # segment starting at a and everything after it
    after_end = bwd.entry[::-1, ::-1]  # everything after a segment ending at t
    with np.errstate(under="ignore"):
        p_start = np.exp(fwd.entry + after_start - z)
        p_end = np.exp(fwd.ended + after_end - z)
    # Inside a segment of k at i = it started at or before i and has not ended before i.
    inside = np.cumsum(p_start, axis=1)
    inside[:, 1:] -= np.cumsum(p_end, axis=1)[:, :-1]
    inside = np.clip(inside, 0.0, 1.0).T
    return inside / np.maximum(inside.sum(axis=1, keepdims=True), 1e-300)


def _windows(x: np.ndarray, d: int, fill: float) -> np.ndarray:
    """[N, d] view with w[t, j] = x[t - j], `fill` where t - j < 0."""
    padded = np.concatenate([np.full(d - 1, fill), x])
    return sliding_window_view(padded, d)[:, ::-1]


def _reduce(x: np.ndarray, *, axis: int, maximise: bool) -> np.ndarray:
    if maximise:
        return np.max(x, axis=axis)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))

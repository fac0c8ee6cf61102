"""A left-to-right hidden semi-Markov model over spine levels, vectorised in numpy.

A path is a sequence of contiguous segments with strictly increasing levels. Its score is
the summed per-slice log-likelihood, plus a log-normal length score per segment (a survival
score for segments cut by either end of the series), plus a penalty per skipped level.

The recursion runs over levels, not slices: for level k, every segment ending at slice t is
scored at once as a sliding window over a 1-D array, so the Python loop has 19 turns
whatever the series length. Backward quantities come from a forward sweep over the series
reversed in both slice and level order, which the model is symmetric under."""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ml_worker.decoding.anatomy import length_score, lognormal_logsf

NEG_INF = -np.inf


@dataclass(frozen=True)
class LevelDurations:
    """Length scores of one bounded level, indexed by j = slices in the segment − 1.

    `whole` is [D] when slices are evenly spaced, else [N, D] (row = last slice); −inf marks
    lengths beyond the longest plausible. `start_sf[t]` scores segment [0, t] and
    `end_sf[j]` segment [N-1-j, N-1]: both are cut by the field of view."""

    whole: np.ndarray
    start_sf: np.ndarray
    end_sf: np.ndarray


@dataclass(frozen=True)
class Sweep:
    """Forward quantities per level k and slice: `entry[k, a]` scores everything before a
    segment of k that starts at a; `ended[k, t]` everything up to and including a segment of
    k that ends at t; `before[k, a]` = entry minus the evidence for k up to a. With
    `maximise`, max replaces log-sum-exp (Viterbi)."""

    entry: np.ndarray
    ended: np.ndarray
    before: np.ndarray
    maximise: bool

    @property
    def score(self) -> float:
        return float(_reduce(self.ended[:, -1], axis=0, maximise=self.maximise))


def level_durations(
    positions: np.ndarray,
    spacing: float,
    typical_mm: np.ndarray,
    sigma: float,
    max_mm: np.ndarray,
    bounded: np.ndarray,
) -> list[LevelDurations | None]:
    """Length scores per level for slices at ascending `positions` (mm); None where unbounded."""
    steps = np.diff(positions)
    even = steps.size == 0 or bool(np.all(np.abs(steps - spacing) <= 0.1 * spacing))
    out: list[LevelDurations | None] = []
    for k in range(len(typical_mm)):
        if not bounded[k]:
            out.append(None)
        elif even:
            args = (float(typical_mm[k]), float(sigma), float(max_mm[k]))
            out.append(_even_durations(len(positions), float(spacing), *args))
        else:
            out.append(_uneven_durations(positions, spacing, typical_mm[k], sigma, max_mm[k]))
    return out


@lru_cache(maxsize=256)
def _even_durations(
    n: int, spacing: float, typical: float, sigma: float, max_mm: float
) -> LevelDurations:
    # Cached: series of one protocol share N and spacing; the arrays are made read-only.
    d = int(min(n, max(1, np.floor(max_mm / spacing))))
    lengths = spacing * np.arange(1, d + 1)
    sf = _frozen(lognormal_logsf(lengths, typical, sigma))
    return LevelDurations(_frozen(length_score(lengths, typical, sigma).astype(np.float32)), sf, sf)


def _frozen(x: np.ndarray) -> np.ndarray:
    x.setflags(write=False)
    return x


def _uneven_durations(
    pos: np.ndarray, spacing: float, typical: float, sigma: float, max_mm: float
) -> LevelDurations:
    n = pos.size
    # D = the most slices any segment within max_mm can hold.
    first_within = np.searchsorted(pos, pos + spacing - max_mm, side="left")
    d = int(max(1, np.max(np.arange(n) - first_within + 1)))
    lengths = pos[:, None] - _windows(pos, d, np.nan)[:, ::-1] + spacing  # [t, j]: a = t - j
    with np.errstate(invalid="ignore"):
        ok = lengths <= max_mm
        whole = np.where(ok, length_score(np.where(ok, lengths, typical), typical, sigma), NEG_INF)
    start_len = pos[:d] - pos[0] + spacing
    end_len = pos[-1] - pos[::-1][:d] + spacing
    return LevelDurations(
        whole.astype(np.float32),
        _capped_sf(start_len, typical, sigma, max_mm),
        _capped_sf(end_len, typical, sigma, max_mm),
    )


def _capped_sf(lengths: np.ndarray, typical: float, sigma: float, max_mm: float) -> np.ndarray:
    return np.where(lengths <= max_mm, lognormal_logsf(lengths, typical, sigma), NEG_INF)


def sweep(
    loglik: np.ndarray,
    durations: list[LevelDurations | None],
    step: np.ndarray,
    *,
    maximise: bool,
    boundary: np.ndarray | None = None,
) -> Sweep:
    """Forward recursion. `step[g]` is the log score of advancing g levels at once (g ≥ 1,
    up to len(step) - 1); the first level only starts at slice 0 and the last only ends
    at slice N-1, since nothing precedes or follows them. `boundary[g]` [N-1], when given,
    scores a level change between slices g and g+1 (disc evidence)."""
    n, k_total = loglik.shape
    cum = np.vstack([np.zeros(k_total), np.cumsum(loglik, axis=0)])  # cum[i] = rows < i
    entry = np.full((k_total, n), NEG_INF)
    ended = np.full((k_total, n), NEG_INF)
    before = np.full((k_total, n), NEG_INF)
    for k in range(k_total):
        entry[k, 0] = 0.0  # a series may start at any level
        if k > 0 and n > 1:
            entry[k, 1:] = _reduce(_entry_candidates(ended, step, k), axis=0, maximise=maximise)
            if boundary is not None:
                entry[k, 1:] += boundary
        # Everything before a segment starting at a, minus the evidence up to a: adding the
        # evidence up to t then scores the segment [a, t] without a 2-D cumulative sum.
        before[k] = entry[k] - cum[:-1, k]
        dur = durations[k]
        if k == 0:
            ended[0] = cum[1:, 0]
        elif dur is None:
            ended[k, -1] = cum[-1, k] + _reduce(before[k], axis=0, maximise=maximise)
        else:
            ended[k] = cum[1:, k] + _band(before[k], dur, maximise=maximise)
    return Sweep(entry, ended, before, maximise)


def _entry_candidates(ended: np.ndarray, step: np.ndarray, k: int) -> np.ndarray:
    """[levels j, a - 1]: scores of entering level k at slice a from level j ending at a - 1."""
    lo = max(0, k - (step.size - 1))
    return ended[lo:k, :-1] + step[k - np.arange(lo, k)][:, None]


def _band(before: np.ndarray, dur: LevelDurations, *, maximise: bool) -> np.ndarray:
    """Best (or summed) score over segment lengths for every last slice t at once. The
    [N, D] work is float32: scores are differences of nats, 1e-3 precision is plenty."""
    n = before.size
    d = dur.whole.shape[-1]
    inner = before.astype(np.float32)
    inner[0] = NEG_INF  # segments from slice 0 are cut by the field of view: scored below
    window = _windows(inner, d, NEG_INF)  # window[t, c] = inner[t - (d - 1 - c)]
    scores = window + dur.whole[..., ::-1]
    scores[-1] = window[-1] + dur.end_sf[::-1]  # the last segment is cut by the field of view too
    best = np.max(scores, axis=1).astype(np.float64) if maximise else _lse_rows(scores)
    m = min(d, n)
    from_start = before[0] + dur.start_sf[:m]
    best[:m] = np.maximum(best[:m], from_start) if maximise else np.logaddexp(best[:m], from_start)
    return best


def _lse_rows(x: np.ndarray) -> np.ndarray:
    """log-sum-exp of each row, overwriting x (the band is the hot spot: no temporaries)."""
    m = np.max(x, axis=1)
    m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype)
    x -= m[:, None]
    with np.errstate(under="ignore"):
        np.exp(x, out=x)
    with np.errstate(divide="ignore"):
        return m.astype(np.float64) + np.log(np.sum(x, axis=1, dtype=np.float64))


def backtrack(sw: Sweep, durations: list[LevelDurations | None], step: np.ndarray) -> np.ndarray:
    """The best path of a maximising sweep, one level per slice. Only the ≤ 19 segment
    ends on the path need their argmax, so it is recomputed here rather than stored."""
    n = sw.ended.shape[1]
    path = np.empty(n, dtype=np.int64)
    k, t = int(np.argmax(sw.ended[:, -1])), n - 1
    while True:
        a = _best_start(sw.before[k], durations[k], k, t)
        path[a : t + 1] = k
        if a == 0:
            return path
        lo = max(0, k - (step.size - 1))
        k, t = lo + int(np.argmax(_entry_candidates(sw.ended, step, k)[:, a - 1])), a - 1


def _best_start(before: np.ndarray, dur: LevelDurations | None, k: int, t: int) -> int:
    if k == 0:
        return 0
    if dur is None:  # the last level, whose segment ends at the last slice
        return int(np.argmax(before))
    n = before.size
    j = np.arange(min(dur.whole.shape[-1], t + 1))
    whole = dur.whole if dur.whole.ndim == 1 else dur.whole[t]
    scores = before[t - j] + (dur.end_sf[j] if t == n - 1 else whole[j])
    if t < dur.start_sf.size:  # the segment from slice 0 is cut by the field of view
        scores[t] = before[0] + dur.start_sf[t]
    return t - int(np.argmax(scores))


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
    """[N, d] view with w[t, c] = x[t - (d - 1 - c)], `fill` before the start: the last d
    values up to t, oldest first (forward strides keep the band arithmetic fast)."""
    padded = np.concatenate([np.full(d - 1, fill, dtype=x.dtype), x])
    return sliding_window_view(padded, d)


def _reduce(x: np.ndarray, *, axis: int, maximise: bool) -> np.ndarray:
    if maximise:
        return np.max(x, axis=axis)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))

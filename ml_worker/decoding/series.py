"""Decode a whole series: per-slice probabilities → contiguous, ordered level ranges."""

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike

from ml_worker.decoding.anatomy import BOUNDED, EXPECTED_MM
from ml_worker.decoding.flags import Evidence, FlagRules, level_ranges, range_flags
from ml_worker.decoding.geometry import Geometry, series_geometry
from ml_worker.decoding.hsmm import LevelDurations, backtrack, level_durations, marginals, sweep
from ml_worker.decoding.result import REVERSED, Flag, LevelRange, SeriesDecoding
from ml_worker.levels import NUM_CLASSES


@dataclass(frozen=True)
class DecoderConfig:
    # Mixed into every posterior so one confidently wrong slice costs a bounded amount.
    floor: float = 0.02
    # Neighbouring slices are not independent evidence; < 1 tempers an overconfident CNN.
    # None: 1 from level evidence alone, 0.5 with disc evidence (the discs fix where levels
    # change, so a vertebra's slices act as one correlated observation and counting, not a
    # misread vertebra, decides; tuned on phantoms no benchmark or training run uses).
    evidence_weight: float | None = None
    # Log score per level skipped at a boundary: a missed level is possible but rare.
    skip_log_score: float = -6.0
    max_skipped: int = 2  # more levels missing at once is a broken series, not a missed level
    # Log-normal spread of a level's length around the typical one (patient size, anatomy).
    length_sigma: float = 0.22
    # Longest range considered, × typical; above 2 so a doubled (transitional) level fits.
    max_length_factor: float = 2.3
    # Disc evidence (models with a disc output): a level change between two slices scores
    # weight × logit(P(either cuts a disc)), clipped to [floor, 1 - floor], so levels change
    # at discs and a vertebra is not split or merged against what the image shows.
    boundary_weight: float = 2.0
    boundary_floor: float = 0.01
    # Nats by which the reversed reading must beat the given one to call the series reversed.
    reversal_margin: float = 2.0
    gap_factor: float = 1.5
    rules: FlagRules = field(default_factory=FlagRules)


def decode_series(
    probs: ArrayLike,
    positions_mm: ArrayLike,
    class_priors: ArrayLike | None = None,
    config: DecoderConfig | None = None,
    disc_probs: ArrayLike | None = None,
) -> SeriesDecoding:
    """Decode per-slice probabilities [N, 19] of slices in series order (the most superior
    expected first) at `positions_mm` [N]. `class_priors` (e.g. training class counts)
    turn posteriors into scaled likelihoods; `disc_probs` [N] (P(the slice cuts a disc))
    place level changes at discs."""
    cfg = config or DecoderConfig()
    p = _checked_probs(probs)
    geo = series_geometry(np.asarray(positions_mm, dtype=np.float64), cfg.gap_factor)
    if geo.axis.size != p.shape[0]:
        raise ValueError(f"{p.shape[0]} slices of probabilities but {geo.axis.size} positions")
    if cfg.evidence_weight is None:
        cfg = replace(cfg, evidence_weight=1.0 if disc_probs is None else 0.5)
    loglik = emission_loglik(p, class_priors, cfg)
    boundary = None if disc_probs is None else boundary_scores(disc_probs, p.shape[0], cfg)
    discs = None if disc_probs is None else np.asarray(disc_probs, dtype=np.float64)
    pos = np.asarray(positions_mm, dtype=np.float64)
    return _decode(p, loglik, pos, geo, cfg, boundary, discs)


def boundary_scores(disc_probs: ArrayLike, n: int, cfg: DecoderConfig) -> np.ndarray:
    """[N-1] log-odds that the level changes between slices g and g+1: it does where
    either slice cuts a disc (a level runs to the middle of the disc below it)."""
    d = np.asarray(disc_probs, dtype=np.float64)
    if d.shape != (n,) or not np.all(np.isfinite(d)) or np.any((d < 0) | (d > 1)):
        raise ValueError(f"disc_probs must be {n} probabilities")
    q = np.clip(np.maximum(d[:-1], d[1:]), cfg.boundary_floor, 1.0 - cfg.boundary_floor)
    return cfg.boundary_weight * (np.log(q) - np.log1p(-q))


def emission_loglik(
    p: np.ndarray, class_priors: ArrayLike | None, cfg: DecoderConfig
) -> np.ndarray:
    """Weighted log scaled likelihood log(p / prior), floored."""
    k = p.shape[1]
    ll = np.log((1.0 - cfg.floor) * p + cfg.floor / k)
    if class_priors is not None:
        prior = np.asarray(class_priors, dtype=np.float64)
        if prior.shape != (k,) or np.any(prior <= 0):
            raise ValueError(f"class_priors must be {k} positive numbers")
        ll -= np.log(prior * k / prior.sum())  # uniform priors leave the evidence unchanged
    return (1.0 if cfg.evidence_weight is None else cfg.evidence_weight) * ll


def _checked_probs(probs: ArrayLike) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != NUM_CLASSES or p.shape[0] == 0:
        raise ValueError(f"probs must be [N, {NUM_CLASSES}] with N ≥ 1, got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probs must be finite and non-negative")
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)


def _durations(axis: np.ndarray, spacing: float, cfg: DecoderConfig) -> list[LevelDurations | None]:
    return level_durations(
        axis, spacing, EXPECTED_MM, cfg.length_sigma, cfg.max_length_factor * EXPECTED_MM, BOUNDED
    )


def _step(cfg: DecoderConfig) -> np.ndarray:
    gaps = np.arange(cfg.max_skipped + 2, dtype=np.float64)
    return np.maximum(gaps - 1.0, 0.0) * cfg.skip_log_score  # step[g]: advance g levels


def _decode(
    p: np.ndarray,
    loglik: np.ndarray,
    pos: np.ndarray,
    geo: Geometry,
    cfg: DecoderConfig,
    boundary: np.ndarray | None,
    discs: np.ndarray | None = None,
) -> SeriesDecoding:
    step = _step(cfg)
    axis_back = geo.axis[-1] - geo.axis[::-1]
    durs = _durations(geo.axis, geo.spacing, cfg)
    durs_back = _durations(axis_back, geo.spacing, cfg)
    # Decode both ways; the reading that fits the monotone model better is the series' order.
    back = None if boundary is None else boundary[::-1]
    as_given = sweep(loglik, durs, step, maximise=True, boundary=boundary)
    flipped = sweep(loglik[::-1], durs_back, step, maximise=True, boundary=back)
    rev = flipped.score > as_given.score + cfg.reversal_margin
    o = slice(None, None, -1) if rev else slice(None)
    ll, best = loglik[o], (flipped if rev else as_given)
    fwd_durs, back_durs = (durs_back, durs) if rev else (durs, durs_back)
    b_fwd, b_bwd = (back, boundary) if rev else (boundary, back)
    fwd = sweep(ll, fwd_durs, step, maximise=False, boundary=b_fwd)
    bwd = sweep(ll[::-1, ::-1], back_durs[::-1], step, maximise=False, boundary=b_bwd)
    ev = Evidence(
        backtrack(best, fwd_durs, step),
        marginals(fwd, bwd),
        p[o],
        (axis_back if rev else geo.axis),
        pos[o],
        geo.spacing,
        None if discs is None else discs[o],
    )
    ranges = level_ranges(ev)
    flags = range_flags(ev, ranges, cfg.rules)
    if rev:
        ranges, flags = [_flip_range(r, ev.n) for r in ranges], [_flip_flag(f, ev.n) for f in flags]
        flags.insert(0, _reversed_flag(flipped.score - as_given.score))
    return SeriesDecoding(
        levels=ev.path[o],
        marginals=ev.posterior[o],
        ranges=ranges,
        flags=[*geo.flags, *flags],
        reversed=bool(rev),
        log_score=best.score,
        log_score_other_direction=(as_given if rev else flipped).score,
        spacing_mm=geo.spacing,
    )


def _reversed_flag(margin: float) -> Flag:
    return Flag(
        REVERSED,
        f"The series runs inferior → superior (the reversed reading fits {margin:.0f} nats "
        "better); it was decoded in anatomical order and mapped back to its own slice indices.",
    )


def _flip_range(r: LevelRange, n: int) -> LevelRange:
    return replace(
        r,
        first=n - 1 - r.last,
        last=n - 1 - r.first,
        mid=n - 1 - r.mid,
        start_mm=r.end_mm,
        end_mm=r.start_mm,
    )


def _flip_flag(f: Flag, n: int) -> Flag:
    if f.first is None or f.last is None:
        return f
    return replace(f, first=n - 1 - f.last, last=n - 1 - f.first)

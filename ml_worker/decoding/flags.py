"""Level ranges from a decoded path, and the flags read off them: low confidence,
implausible lengths, skipped levels and transitional anatomy.

Everything here works in the decoding orientation (index 0 = most superior slice); the
caller maps indices back to the series' own order."""

from dataclasses import dataclass

import numpy as np

from ml_worker.decoding.anatomy import BOUNDED, EXPECTED_MM
from ml_worker.decoding.result import (
    IMPLAUSIBLE_LENGTH,
    LOW_CONFIDENCE,
    SKIPPED_LEVEL,
    TRANSITIONAL_L6,
    TRANSITIONAL_LUMBOSACRAL,
    TRANSITIONAL_T13,
    Flag,
    LevelRange,
)
from ml_worker.levels import FINE_LEVELS, INDEX

T12, L1, L5, SACRAL = INDEX["T12"], INDEX["L1"], INDEX["L5"], INDEX["Sacral"]


@dataclass(frozen=True)
class Evidence:
    """One series in decoding orientation: the path and what it was decoded from."""

    path: np.ndarray  # [N] decoded level per slice
    posterior: np.ndarray  # [N, K] marginals
    probs: np.ndarray  # [N, K] classifier output
    axis: np.ndarray  # [N] mm from slice 0, ascending
    positions: np.ndarray  # [N] slice positions as given, in this orientation
    spacing: float

    @property
    def n(self) -> int:
        return int(self.path.size)

    def length_mm(self, first: int, last: int) -> float:
        return float(self.axis[last] - self.axis[first] + self.spacing)


@dataclass(frozen=True)
class FlagRules:
    low_confidence: float = 0.5
    too_short: float = 0.5  # × typical length, for a range seen whole
    too_long: float = 1.6
    extra_vertebra: float = 1.6  # a level's evidence this many typical lengths long
    lookalike: float = 0.35  # share of a neighbour pair's probability that "looks like" it
    mixed_share: float = 0.5  # × typical L5 length of L5/Sacral-mixed evidence


def level_ranges(ev: Evidence) -> list[LevelRange]:
    """Contiguous runs of the path, superior → inferior."""
    cuts = np.flatnonzero(np.diff(ev.path)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts - 1, [ev.n - 1]])
    argmax = np.argmax(ev.probs, axis=1)
    return [_range(ev, int(ev.path[a]), int(a), int(b), argmax) for a, b in zip(starts, ends, strict=True)]


def _range(ev: Evidence, k: int, a: int, b: int, argmax: np.ndarray) -> LevelRange:
    centre = (ev.axis[a] + ev.axis[b]) / 2
    mid = a + int(np.argmin(np.abs(ev.axis[a : b + 1] - centre)))
    return LevelRange(
        level=FINE_LEVELS[k],
        index=k,
        first=a,
        last=b,
        mid=mid,
        start_mm=float(ev.positions[a]),
        end_mm=float(ev.positions[b]),
        length_mm=round(ev.length_mm(a, b), 3),
        confidence=round(float(np.mean(ev.posterior[a : b + 1, k])), 4),
        agreement=round(float(np.mean(argmax[a : b + 1] == k)), 4),
    )


def size_scale(ranges: list[LevelRange], n: int) -> float:
    """Patient size relative to the typical adult, from ranges seen whole (≥ 3 of them);
    the median keeps one anomalous level from setting it."""
    ratios = [
        r.length_mm / EXPECTED_MM[r.index]
        for r in ranges
        if BOUNDED[r.index] and r.first > 0 and r.last < n - 1
    ]
    return float(np.clip(np.median(ratios), 0.8, 1.25)) if len(ratios) >= 3 else 1.0


def range_flags(ev: Evidence, ranges: list[LevelRange], rules: FlagRules) -> list[Flag]:
    scale = size_scale(ranges, ev.n)
    transitional = transitional_flags(ev, ranges, scale, rules)
    explained = {INDEX[name] for f in transitional for name in _LEVELS_EXPLAINED[f.code]}
    flags = [*_confidence_flags(ranges, rules), *_skip_flags(ranges), *transitional]
    flags += [f for r in ranges if r.index not in explained for f in _length_flag(r, ev.n, scale, rules)]
    return flags


_LEVELS_EXPLAINED = {
    TRANSITIONAL_T13: ("T12", "L1"),
    TRANSITIONAL_L6: ("L5",),
    TRANSITIONAL_LUMBOSACRAL: ("L5",),
}


def _confidence_flags(ranges: list[LevelRange], rules: FlagRules) -> list[Flag]:
    return [
        Flag(
            LOW_CONFIDENCE,
            f"{r.level}: mean posterior {r.confidence:.2f} over slices {r.first}–{r.last} "
            f"(per-slice agreement {r.agreement:.0%}).",
            r.level,
            r.first,
            r.last,
        )
        for r in ranges
        if r.confidence < rules.low_confidence
    ]


def _skip_flags(ranges: list[LevelRange]) -> list[Flag]:
    flags = []
    for up, down in zip(ranges, ranges[1:], strict=False):
        if down.index - up.index > 1:
            missing = ", ".join(FINE_LEVELS[up.index + 1 : down.index])
            flags.append(
                Flag(
                    SKIPPED_LEVEL,
                    f"No slices decoded as {missing} between {up.level} and {down.level}: "
                    "the evidence skips it (a missed or absent level).",
                    FINE_LEVELS[up.index + 1],
                    up.last,
                    down.first,
                )
            )
    return flags


def _length_flag(r: LevelRange, n: int, scale: float, rules: FlagRules) -> list[Flag]:
    if not BOUNDED[r.index]:
        return []
    typical = scale * EXPECTED_MM[r.index]
    ratio = r.length_mm / typical
    whole = r.first > 0 and r.last < n - 1  # a range cut by the field of view may be short
    if ratio <= rules.too_long and (ratio >= rules.too_short or not whole):
        return []
    return [
        Flag(
            IMPLAUSIBLE_LENGTH,
            f"{r.level} spans {r.length_mm:.0f} mm, {ratio:.1f}× its typical {typical:.0f} mm.",
            r.level,
            r.first,
            r.last,
        )
    ]


def transitional_flags(ev: Evidence, ranges: list[LevelRange], scale: float, rules: FlagRules) -> list[Flag]:
    """An extra thoracic or lumbar vertebra shows as a level whose look-alike evidence runs
    about two vertebrae long, whichever neighbour the decoder gave the extra slices to."""
    by_level = {r.index: r for r in ranges}
    flags = []
    t13 = _extra_below(ev, by_level, T12, L1, scale, rules) or _extra_above(ev, by_level, L1, T12, scale, rules)
    if t13:
        flags.append(_transitional(TRANSITIONAL_T13, "a 13th thoracic vertebra (T13)", t13))
    l6 = _extra_below(ev, by_level, L5, SACRAL, scale, rules)
    if l6:
        flags.append(_transitional(TRANSITIONAL_L6, "a sixth lumbar vertebra (L6)", l6))
    elif (ls := _lumbosacral(ev, by_level, scale, rules)) is not None:
        flags.append(ls)
    return flags


def _transitional(code: str, what: str, found: tuple[str, int, int, float, float]) -> Flag:
    level, first, last, length, ratio = found
    return Flag(
        code,
        f"{level}-like evidence spans {length:.0f} mm, {ratio:.1f}× a typical {level}: "
        f"likely {what}; the extra vertebra is about slices {first}–{last}.",
        level,
        first,
        last,
    )


def _lookalike(ev: Evidence, u: int, w: int) -> np.ndarray:
    """Share of the (u, w) pair's probability that is u's, smoothed over ~6 mm so a
    stray slice neither starts nor stops a run."""
    share = ev.probs[:, u] / np.maximum(ev.probs[:, u] + ev.probs[:, w], 1e-12)
    width = max(1, int(round(6.0 / ev.spacing)) | 1)
    return np.convolve(np.pad(share, width // 2, mode="edge"), np.ones(width) / width, mode="valid")


def _extra_below(
    ev: Evidence, by_level: dict[int, LevelRange], u: int, w: int, scale: float, rules: FlagRules
) -> tuple[str, int, int, float, float] | None:
    """Level u's range plus the u-looking slices the decoder gave to w below it."""
    if u not in by_level:
        return None
    r = by_level[u]
    typical = scale * EXPECTED_MM[u]
    share = _lookalike(ev, u, w)
    last = r.last
    while last + 1 < ev.n and share[last + 1] >= rules.lookalike and ev.length_mm(r.first, last + 1) <= 2.5 * typical:
        last += 1
    return _if_doubled(ev, u, r.first, last, typical, rules, extra_at_bottom=True)


def _extra_above(
    ev: Evidence, by_level: dict[int, LevelRange], w: int, u: int, scale: float, rules: FlagRules
) -> tuple[str, int, int, float, float] | None:
    """Level w's range plus the w-looking slices the decoder gave to u above it."""
    if w not in by_level:
        return None
    r = by_level[w]
    typical = scale * EXPECTED_MM[w]
    share = _lookalike(ev, w, u)
    first = r.first
    while first > 0 and share[first - 1] >= rules.lookalike and ev.length_mm(first - 1, r.last) <= 2.5 * typical:
        first -= 1
    return _if_doubled(ev, w, first, r.last, typical, rules, extra_at_bottom=False)


def _if_doubled(
    ev: Evidence, k: int, first: int, last: int, typical: float, rules: FlagRules, *, extra_at_bottom: bool
) -> tuple[str, int, int, float, float] | None:
    length = ev.length_mm(first, last)
    ratio = length / typical
    if ratio < rules.extra_vertebra:
        return None
    # The extra vertebra is the half of the run beyond the one expected.
    centre = (ev.axis[first] + ev.axis[last]) / 2
    split = int(np.searchsorted(ev.axis, centre))
    lo, hi = (split, last) if extra_at_bottom else (first, max(first, split - 1))
    return FINE_LEVELS[k], lo, hi, length, ratio


def _lumbosacral(ev: Evidence, by_level: dict[int, LevelRange], scale: float, rules: FlagRules) -> Flag | None:
    """Sacralised L5 or lumbarised S1: L5 too short, or L5/Sacral-mixed evidence over half a
    vertebra or more around the junction, without a whole extra vertebra."""
    r = by_level.get(L5)
    if r is None or SACRAL not in by_level:
        return None
    typical = scale * EXPECTED_MM[L5]
    share = _lookalike(ev, L5, SACRAL)
    stop = min(ev.n - 1, int(np.searchsorted(ev.axis, ev.axis[r.last] + typical)))
    mixed = r.first + np.flatnonzero((share[r.first : stop + 1] > 0.25) & (share[r.first : stop + 1] < 0.75))
    mixed_mm = mixed.size * ev.spacing
    short = r.first > 0 and r.length_mm < rules.too_short * typical
    if mixed_mm < rules.mixed_share * typical and not short:
        return None
    first, last = (int(mixed[0]), int(mixed[-1])) if mixed.size else (r.first, r.last)
    return Flag(
        TRANSITIONAL_LUMBOSACRAL,
        f"Lumbosacral junction ambiguous: L5 spans {r.length_mm:.0f} mm (typical {typical:.0f}), "
        f"{mixed_mm:.0f} mm of L5/Sacral-mixed evidence: possible sacralised L5 or lumbarised S1.",
        "L5",
        first,
        last,
    )

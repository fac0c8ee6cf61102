"""Level ranges from a decoded path, and the flags read off them: low confidence,
implausible lengths, skipped levels and transitional anatomy.

Everything here works in the decoding orientation (index 0 = most superior slice); the
caller maps indices back to the series' own order."""

from dataclasses import dataclass

import numpy as np

from ml_worker.decoding.anatomy import BOUNDED, DISC_MM, EXPECTED_MM
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

T12, L1, L4, L5, SACRAL = (INDEX[k] for k in ("T12", "L1", "L4", "L5", "Sacral"))


@dataclass(frozen=True)
class Evidence:
    """One series in decoding orientation: the path and what it was decoded from."""

    path: np.ndarray  # [N] decoded level per slice
    posterior: np.ndarray  # [N, K] marginals
    probs: np.ndarray  # [N, K] classifier output
    axis: np.ndarray  # [N] mm from slice 0, ascending
    positions: np.ndarray  # [N] slice positions as given, in this orientation
    spacing: float
    discs: np.ndarray | None = None  # [N] P(the slice cuts a disc), from a disc output

    @property
    def n(self) -> int:
        return int(self.path.size)

    def length_mm(self, first: int, last: int) -> float:
        return float(self.axis[last] - self.axis[first] + self.spacing)


@dataclass(frozen=True)
class FlagRules:
    low_confidence: float = 0.5  # mean posterior of a range
    low_agreement: float = 0.25  # fraction of a range's slices whose argmax is its level
    too_short: float = 0.5  # × typical length, for a range seen whole
    too_long: float = 1.6
    extra_vertebra: float = 1.3  # × typical length of a level's look-alike evidence
    # With disc evidence: a disc inside a range (P > this, with body slices of the range on
    # both sides of it) means the range holds two vertebrae.
    inner_disc: float = 0.5
    inner_disc_body_slices: int = 2
    fused_l5_disc: float = 0.45  # × typical L5/S1 disc: thinner (or none) = sacralised L5
    sacral_looking_l5: float = 0.65  # L5's share of the (L5, Sacral) probability, pooled
    lumbar_looking_s1: float = 0.35  # the same share over the top half-vertebra of the sacrum


def level_ranges(ev: Evidence) -> list[LevelRange]:
    """Contiguous runs of the path, superior → inferior."""
    cuts = np.flatnonzero(np.diff(ev.path)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts - 1, [ev.n - 1]])
    argmax = np.argmax(ev.probs, axis=1)
    return [
        _range(ev, int(ev.path[a]), int(a), int(b), argmax)
        for a, b in zip(starts, ends, strict=True)
    ]


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
    flags += [
        f for r in ranges if r.index not in explained for f in _length_flag(r, ev.n, scale, rules)
    ]
    return flags


_LEVELS_EXPLAINED = {
    TRANSITIONAL_T13: ("T12", "L1"),
    TRANSITIONAL_L6: ("L5",),
    TRANSITIONAL_LUMBOSACRAL: ("L5",),
}


def _confidence_flags(ranges: list[LevelRange], rules: FlagRules) -> list[Flag]:
    """A range the decoder is unsure of, or one the classifier rarely agreed with: there
    the anatomy prior, not the evidence, placed it (an uninformative stretch of slices)."""
    flags = []
    for r in ranges:
        if r.confidence < rules.low_confidence:
            why = f"mean posterior {r.confidence:.2f}"
        elif r.agreement < rules.low_agreement:
            why = f"placed by anatomy more than evidence: per-slice agreement {r.agreement:.0%}"
        else:
            continue
        flags.append(
            Flag(
                LOW_CONFIDENCE,
                f"{r.level}: {why}.",
                r.level,
                r.first,
                r.last,
            )
        )
    return flags


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


def transitional_flags(
    ev: Evidence, ranges: list[LevelRange], scale: float, rules: FlagRules
) -> list[Flag]:
    """An extra thoracic or lumbar vertebra shows as a level whose look-alike evidence runs
    about two vertebrae long, whichever neighbour the decoder gave the extra slices to."""
    by_level = {r.index: r for r in ranges}
    flags = []
    if ev.discs is not None:  # count the vertebrae at their discs
        t13 = _inner_disc(ev, by_level, T12, rules) or _inner_disc(ev, by_level, L1, rules)
        l6 = _inner_disc(ev, by_level, L5, rules) or _inner_disc(ev, by_level, SACRAL, rules)
    else:  # level evidence alone: a neighbour's look-alike evidence about doubled
        t13 = _doubled(ev, by_level, T12, L1, scale, rules) or _doubled(
            ev, by_level, L1, T12, scale, rules
        )
        l6 = _doubled(ev, by_level, L5, SACRAL, scale, rules)
    if t13:
        flags.append(_transitional(TRANSITIONAL_T13, "a 13th thoracic vertebra (T13)", t13))
    if l6:
        flags.append(_transitional(TRANSITIONAL_L6, "a sixth lumbar vertebra (L6)", l6))
    elif ls := _fused_l5(ev, by_level, scale, rules) or _lumbosacral(ev, by_level, scale, rules):
        flags.append(ls)
    return flags


def _fused_l5(
    ev: Evidence, by_level: dict[int, LevelRange], scale: float, rules: FlagRules
) -> Flag | None:
    """With disc evidence: an L5/S1 disc much thinner than typical, or none, between an L5
    and a sacrum both seen: L5 partly fused to the sacrum (sacralised)."""
    r, s = by_level.get(L5), by_level.get(SACRAL)
    if ev.discs is None or r is None or s is None or r.first == 0 or s.last - s.first < 4:
        return None
    disc = ev.discs > rules.inner_disc
    # The disc run where L5 meets the sacrum, if any: grown from the boundary both ways.
    lo, hi = r.last + 1, r.last
    while lo > r.first and disc[lo - 1]:
        lo -= 1
    while hi < s.last and disc[hi + 1]:
        hi += 1
    mm = (hi - lo + 1) * ev.spacing
    typical = scale * DISC_MM[L5]
    if mm >= rules.fused_l5_disc * typical:
        return None
    return Flag(
        TRANSITIONAL_LUMBOSACRAL,
        f"Lumbosacral junction: the L5/S1 disc measures {mm:.0f} mm (typical {typical:.0f}): "
        "possibly sacralised L5.",
        "L5",
        r.first,
        r.last,
    )


def _inner_disc(
    ev: Evidence, by_level: dict[int, LevelRange], u: int, rules: FlagRules
) -> tuple[str, int, int, str] | None:
    """A disc inside u's range, with u's body slices above and below it: the range holds two
    vertebrae (the sacrum is fused: it has none). The extra one is the part on the side of
    the junction: below the disc for T12 and L5, above it for L1 and Sacral. Returns (level,
    first and last slice of the extra vertebra, why)."""
    r = by_level.get(u)
    if r is None or ev.discs is None:
        return None
    disc = ev.discs[r.first : r.last + 1] > rules.inner_disc
    body = np.flatnonzero(~disc)
    need = rules.inner_disc_body_slices
    for j in np.flatnonzero(disc):
        if np.sum(body < j) >= need and np.sum(body > j) >= need:
            after = np.flatnonzero(~disc[j:])
            end = j + int(after[0]) if after.size else disc.size  # first body slice below it
            above = u in (L1, SACRAL)
            first, last = (r.first, r.first + j - 1) if above else (r.first + end, r.last)
            mm = ev.length_mm(r.first, r.last)
            why = f"{r.level} spans {mm:.0f} mm with a disc inside it (slice {r.first + j})"
            return r.level, first, last, why
    return None


def _transitional(code: str, what: str, found: tuple[str, int, int, str]) -> Flag:
    level, first, last, why = found
    return Flag(code, f"{why}: likely {what}, at the flagged slices.", level, first, last)


def _share(ev: Evidence, u: int, w: int) -> np.ndarray:
    """Per slice, the share of the (u, w) pair's probability that is u's."""
    return ev.probs[:, u] / np.maximum(ev.probs[:, u] + ev.probs[:, w], 1e-12)


def _pooled_share(ev: Evidence, u: int, w: int, first: int, last: int) -> float:
    """u's share of the (u, w) probability pooled over slices first..last."""
    pu, pw = (float(np.sum(ev.probs[first : last + 1, k])) for k in (u, w))
    return pu / max(pu + pw, 1e-12)


def _doubled(
    ev: Evidence, by_level: dict[int, LevelRange], u: int, w: int, scale: float, rules: FlagRules
) -> tuple[str, int, int, str] | None:
    """How long the evidence looks like u rather than its neighbour w, over u's range plus
    the next typical vertebra on w's side (the decoder may have given an extra vertebra to
    either). The pair share, summed in mm, counts a half-u slice as half. Returns (level,
    first and last slice of the extra vertebra, why) when about doubled."""
    r = by_level.get(u)
    if r is None or w not in by_level:
        return None
    typical = scale * EXPECTED_MM[u]
    below = w > u
    if below:
        first, last = (
            r.first,
            int(np.searchsorted(ev.axis, ev.axis[r.last] + typical, side="right")) - 1,
        )
    else:
        first, last = int(np.searchsorted(ev.axis, ev.axis[r.first] - typical, side="left")), r.last
    u_like = float(np.sum(_share(ev, u, w)[first : last + 1])) * ev.spacing
    if u_like < rules.extra_vertebra * typical:
        return None
    # The extra vertebra: the second typical length of the region, counted from u's side.
    if below:
        lo, hi = ev.axis[first] + typical, ev.axis[first] + 2 * typical
    else:
        lo, hi = ev.axis[last] - 2 * typical, ev.axis[last] - typical
    inside = np.flatnonzero(
        (ev.axis >= lo) & (ev.axis <= hi) & (np.arange(ev.n) >= first) & (np.arange(ev.n) <= last)
    )
    if inside.size == 0:
        return None
    level = FINE_LEVELS[u]
    ratio = u_like / typical
    why = f"{level}-like evidence adds up to {u_like:.0f} mm, {ratio:.1f}× a typical {level}"
    return level, int(inside[0]), int(inside[-1]), why


def _lumbosacral(
    ev: Evidence, by_level: dict[int, LevelRange], scale: float, rules: FlagRules
) -> Flag | None:
    """Sacralised L5 (L5 short, looking half sacral, or not told apart from the sacrum) or
    lumbarised S1 (the top of the sacrum looking lumbar), short of a whole extra vertebra."""
    r, s = by_level.get(L5), by_level.get(SACRAL)
    if s is None or (r is None and L4 not in by_level):
        return None
    typical = scale * EXPECTED_MM[L5]
    s1_end = min(s.last, int(np.searchsorted(ev.axis, ev.axis[s.first] + typical / 2)))
    s1_share = _pooled_share(ev, L5, SACRAL, s.first, s1_end)
    if r is None:
        if s1_share < rules.lumbar_looking_s1:
            return None
        what, first, last, l5 = (
            "sacralised L5",
            s.first,
            s1_end,
            "no L5 was told apart from the sacrum",
        )
    else:
        l5_share = _pooled_share(ev, L5, SACRAL, r.first, r.last)
        l5 = (
            f"L5 spans {r.length_mm:.0f} mm (typical {typical:.0f}) "
            f"and looks {1 - l5_share:.0%} sacral"
        )
        if (
            r.first > 0 and r.length_mm < rules.too_short * typical
        ) or l5_share <= rules.sacral_looking_l5:
            what, first, last = "sacralised L5", r.first, r.last
        elif s1_share >= rules.lumbar_looking_s1:
            what, first, last = "lumbarised S1", s.first, s1_end
        else:
            return None
    return Flag(
        TRANSITIONAL_LUMBOSACRAL,
        f"Lumbosacral junction: {l5}; the top of the sacrum looks {s1_share:.0%} L5: "
        f"possibly {what}.",
        "L5",
        first,
        last,
    )

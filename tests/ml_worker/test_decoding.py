"""Sequence decoding of a whole series: synthetic per-slice probabilities with known truth
(ml_worker.decoding.synthetic) → contiguous, ordered level ranges and flags."""

import itertools
import json
import time
from typing import Any

import numpy as np
import pytest

from ml_worker.decoding import (
    GAP,
    IMPLAUSIBLE_LENGTH,
    LOW_CONFIDENCE,
    REVERSED,
    SKIPPED_LEVEL,
    TRANSITIONAL_L6,
    TRANSITIONAL_LUMBOSACRAL,
    TRANSITIONAL_T13,
    UNORDERED,
    LevelRange,
    SeriesDecoding,
    argmax_levels,
    decode_series,
    slice_accuracy,
)
from ml_worker.decoding.anatomy import length_score, lognormal_logsf
from ml_worker.decoding.hsmm import backtrack, level_durations, marginals, sweep
from ml_worker.decoding.synthetic import Noise, SyntheticSeries, spine, synthetic_series
from ml_worker.levels import FINE_LEVELS, INDEX, NUM_CLASSES

# Reference-study training counts per class: the priors that turn posteriors into likelihoods.
TRAIN_COUNTS = [6045, 1966, 1993, 2021, 2065, 2209, 2352, 2475, 2559, 2668, 2828, 3006, 3168]
TRAIN_COUNTS += [1343, 1415, 1477, 1511, 1551, 9272]
# The reference study's weakest levels were mid-thoracic (T6/T7, T9/T10 mixed up).
NEIGHBOURS = (("T6", "T7", 0.3), ("T7", "T6", 0.3), ("T9", "T10", 0.3), ("T10", "T9", 0.3))
REALISTIC = Noise(blur=0.1, jitter=0.8, flip_rate=0.02, confusions=NEIGHBOURS[:2])
NOISY = {
    "isolated_wrong_slices": Noise(jitter=0.5, flip_rate=0.12),
    "neighbour_confusion": Noise(jitter=0.5, confusions=NEIGHBOURS),
    "jitter_and_blur": Noise(blur=0.15, jitter=1.2),
    "everything": Noise(blur=0.15, jitter=1.0, flip_rate=0.05, confusions=NEIGHBOURS),
    "realistic": REALISTIC,
}
SPACINGS = (0.625, 1.25, 2.5, 5.0)


def _series(seed: int, **kwargs: Any) -> SyntheticSeries:
    return synthetic_series(np.random.default_rng(seed), **kwargs)


def _decode(s: SyntheticSeries, **kwargs: Any) -> SeriesDecoding:
    return decode_series(s.probs, s.positions_mm, **kwargs)


def _range(d: SeriesDecoding, level: str) -> LevelRange:
    r = d.range_of(level)
    assert r is not None, f"no {level} range"
    return r


def _accuracies(s: SyntheticSeries, d: SeriesDecoding) -> tuple[float, float]:
    return slice_accuracy(argmax_levels(s.probs), s.truth), slice_accuracy(d.levels, s.truth)


def _assert_contiguous_and_ordered(d: SeriesDecoding) -> None:
    n = d.levels.size
    ranges = sorted(d.ranges, key=lambda r: r.first)
    if d.reversed:  # superior → inferior runs backwards through the slice indices
        assert [r.index for r in ranges] == sorted((r.index for r in ranges), reverse=True)
    else:
        assert [r.index for r in ranges] == sorted(r.index for r in ranges)
    assert [r.index for r in d.ranges] == sorted(r.index for r in d.ranges)
    assert len({r.index for r in ranges}) == len(ranges)
    assert ranges[0].first == 0 and ranges[-1].last == n - 1
    assert all(a.last + 1 == b.first for a, b in itertools.pairwise(ranges))
    steps = np.diff(d.levels)
    assert np.all(steps <= 0) if d.reversed else np.all(steps >= 0)
    for r in d.ranges:
        assert np.all(d.levels[r.first : r.last + 1] == r.index)


def _body_slices(s: SyntheticSeries, level: str) -> tuple[int, int]:
    idx = [i for i, t in enumerate(s.truth) if t == INDEX[level]]
    return idx[0], idx[-1]


# --- the sequence model itself -------------------------------------------------------------


@pytest.mark.parametrize(("even", "with_boundary"), [(True, False), (False, False), (True, True)])
def test_semi_markov_recursions_match_brute_force_enumeration(
    even: bool, with_boundary: bool
) -> None:
    # Four levels, seven slices: every monotone path enumerated and scored directly.
    rng = np.random.default_rng(1)
    k_total, n, sigma = 4, 7, 0.3
    pos = 3.0 * np.arange(n) if even else np.cumsum(np.r_[0, rng.uniform(2, 6, n - 1)])
    spacing = float(np.median(np.diff(pos)))
    typical, bounded = np.array([10.0, 8, 12, 10]), np.array([False, True, True, False])
    durs = level_durations(pos, spacing, typical, sigma, 2.3 * typical, bounded)
    durs_back = level_durations(
        pos[-1] - pos[::-1], spacing, typical, sigma, 2.3 * typical, bounded
    )
    step = np.array([0.0, 0.0, -2.0, -4.0])
    loglik = np.log(rng.dirichlet(np.ones(k_total), n))
    # Disc evidence: a score per gap between slices, added where the level changes.
    boundary = rng.normal(0.0, 2.0, n - 1) if with_boundary else None

    def seg(k: int, a: int, t: int) -> float:
        length = np.array([pos[t] - pos[a] + spacing])
        if not bounded[k]:
            return 0.0
        if length[0] > 2.3 * typical[k]:
            return -np.inf
        cut = a == 0 or t == n - 1
        f = (
            lognormal_logsf(length, typical[k], sigma)
            if cut
            else length_score(length, typical[k], sigma)
        )
        return float(f[0])

    paths, scores = [], []
    for seq in itertools.combinations_with_replacement(range(k_total), n):
        path = np.array(seq)
        cuts = [0, *(np.flatnonzero(np.diff(path)) + 1), n]
        segs = [(path[a], a, b - 1) for a, b in itertools.pairwise(cuts)]
        score = loglik[np.arange(n), path].sum() + sum(seg(*x) for x in segs)
        score += sum(step[q[0] - p[0]] for p, q in itertools.pairwise(segs))
        if boundary is not None:
            score += sum(boundary[a - 1] for _, a, _ in segs[1:])
        paths.append(path)
        scores.append(score)
    scores_arr = np.array(scores)
    z = np.logaddexp.reduce(scores_arr)
    want = np.zeros((n, k_total))
    for path, w in zip(paths, np.exp(scores_arr - z), strict=True):
        want[np.arange(n), path] += w

    back = None if boundary is None else boundary[::-1]
    best = sweep(loglik, durs, step, maximise=True, boundary=boundary)
    fwd = sweep(loglik, durs, step, maximise=False, boundary=boundary)
    bwd = sweep(loglik[::-1, ::-1], durs_back[::-1], step, maximise=False, boundary=back)
    assert best.score == pytest.approx(scores_arr.max(), abs=1e-5)
    assert list(backtrack(best, durs, step)) == list(paths[int(np.argmax(scores_arr))])
    assert fwd.score == pytest.approx(z, abs=1e-5) and bwd.score == pytest.approx(z, abs=1e-5)
    np.testing.assert_allclose(marginals(fwd, bwd), want, atol=1e-5)


# --- ranges, boundaries and accuracy ---------------------------------------------------------


def _disc_probs(s: SyntheticSeries, sharpness: float = 0.97) -> np.ndarray:
    """What a disc output says: high on the slices between two vertebral bodies."""
    return np.array([sharpness if t is None else 1.0 - sharpness for t in s.truth])


@pytest.mark.parametrize("reverse", [False, True])
def test_disc_evidence_keeps_a_misread_vertebra_in_its_place(reverse: bool) -> None:
    # Every T4 slice confidently read as T5 (the whole vertebra looks one level lower):
    # from level evidence alone the decoder skips T4 and makes T5 two vertebrae long;
    # the discs on either side of T4 say there is a vertebra there, so it stays T4.
    s = _series(7, noise=Noise(jitter=0.3, confusions=(("T4", "T5", 1.0),)))
    s = s.reversed() if reverse else s
    t4 = [i for i, t in enumerate(s.truth) if t == INDEX["T4"]]
    without = _decode(s)
    with_discs = _decode(s, disc_probs=_disc_probs(s))
    assert np.mean(without.levels[t4] == INDEX["T4"]) < 0.5
    assert np.all(with_discs.levels[t4] == INDEX["T4"])
    assert with_discs.reversed is reverse
    _assert_contiguous_and_ordered(with_discs)
    assert _accuracies(s, with_discs)[1] > _accuracies(s, without)[1]


def test_uninformative_disc_evidence_changes_nothing() -> None:
    s = _series(3, noise=REALISTIC)
    flat = _decode(s, disc_probs=np.full(len(s.truth), 0.5))
    assert np.array_equal(flat.levels, _decode(s).levels)


@pytest.mark.parametrize("bad", [np.full(5, 0.5), np.full(400, 1.5), np.full(400, np.nan)])
def test_bad_disc_probabilities_are_refused(bad: np.ndarray) -> None:
    s = _series(0, first="T1", last="L5")
    disc = np.resize(bad, len(s.truth)) if bad.size == 400 else bad
    with pytest.raises(ValueError, match="disc_probs"):
        _decode(s, disc_probs=disc)


@pytest.mark.parametrize("seed", range(3))
def test_clean_whole_spine_gives_19_exact_ranges_and_no_flags(seed: int) -> None:
    s = _series(seed, spacing_mm=2.5, noise=Noise(jitter=0.3))
    d = _decode(s)
    _assert_contiguous_and_ordered(d)
    assert [r.level for r in d.ranges] == list(FINE_LEVELS)
    for r in d.ranges:  # boundaries split discs at their middle, as the truth does
        first, last = s.boundaries[r.level]
        assert abs(r.first - first) <= 1 and abs(r.last - last) <= 1, r
    assert not d.flags and not d.reversed
    assert slice_accuracy(d.levels, s.truth) == 1.0
    assert min(r.confidence for r in d.ranges) > 0.8 and min(r.agreement for r in d.ranges) > 0.8


@pytest.mark.parametrize("spacing", [0.625, 1.25])
def test_thin_slices_put_each_boundary_inside_its_disc(spacing: float) -> None:
    # A 10 mm lumbar disc is 16 thin slices of half-and-half evidence: the truth there is
    # "no level", so a boundary is right anywhere in the disc (±1 slice).
    s = _series(7, spacing_mm=spacing, noise=Noise(jitter=0.5))
    d = _decode(s)
    _assert_contiguous_and_ordered(d)
    for up, down in itertools.pairwise(d.ranges):
        assert down.first - 1 <= _body_slices(s, down.level)[0]
        assert up.last + 1 >= _body_slices(s, up.level)[1]
    assert slice_accuracy(d.levels, s.truth) >= 0.995


@pytest.mark.parametrize("kind", sorted(NOISY))
@pytest.mark.parametrize("spacing", SPACINGS)
def test_decoding_beats_per_slice_argmax_on_noisy_series(kind: str, spacing: float) -> None:
    s = _series(11, spacing_mm=spacing, noise=NOISY[kind])
    d = _decode(s)
    _assert_contiguous_and_ordered(d)
    argmax_acc, decoded_acc = _accuracies(s, d)
    # At least half of the per-slice errors go, and never less than 1.5 points.
    assert 1 - decoded_acc <= 0.5 * (1 - argmax_acc), (argmax_acc, decoded_acc)
    assert decoded_acc >= argmax_acc + 0.015 and decoded_acc >= 0.97


@pytest.mark.parametrize("seed", range(4))
def test_decoding_is_never_worse_than_argmax(seed: int) -> None:
    for spacing in SPACINGS:
        s = _series(seed, spacing_mm=spacing, noise=Noise(jitter=0.3))
        argmax_acc, decoded_acc = _accuracies(s, _decode(s))
        assert decoded_acc >= argmax_acc


def test_neighbour_confusion_moves_boundaries_at_most_two_slices() -> None:
    # T6 read as T7 (and back) on 15% of slices: the reference study's weakest levels. A
    # misread slice right at a boundary moves it; nothing else does.
    confusions = tuple((a, b, 0.15) for a, b, _ in NEIGHBOURS)
    s = _series(3, spacing_mm=2.5, noise=Noise(jitter=0.5, confusions=confusions))
    d = _decode(s)
    confused = [
        t if t is not None and FINE_LEVELS[t] in ("T6", "T7", "T9", "T10") else None
        for t in s.truth
    ]
    assert slice_accuracy(argmax_levels(s.probs), confused) < 0.9
    assert slice_accuracy(d.levels, confused) >= 0.95
    for level in ("T6", "T7", "T9", "T10"):
        r, (first, last) = _range(d, level), s.boundaries[level]
        assert abs(r.first - first) <= 2 and abs(r.last - last) <= 2, r


def test_class_priors_are_divided_out_and_still_decode() -> None:
    s = _series(4, spacing_mm=2.5, noise=REALISTIC)
    plain = _decode(s)
    assert np.array_equal(_decode(s, class_priors=np.ones(NUM_CLASSES)).levels, plain.levels)
    with_priors = _decode(s, class_priors=TRAIN_COUNTS)
    assert slice_accuracy(with_priors.levels, s.truth) >= 0.97
    with pytest.raises(ValueError):
        _decode(s, class_priors=[1.0, 2.0])


# --- partial fields of view --------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "start", "end"),
    [("T1", "L1", 0.4, 0.5), ("T10", "Sacral", 0.6, 0.5), ("Cervical", "T8", 0.7, 0.3)],
    ids=["chest", "abdomen", "neck_and_chest"],
)
def test_partial_fields_of_view_start_and_end_at_the_right_level(
    first: str, last: str, start: float, end: float
) -> None:
    noise = Noise(jitter=0.5, flip_rate=0.03)
    s = _series(5, first=first, last=last, start_frac=start, end_frac=end, noise=noise)
    d = _decode(s)
    _assert_contiguous_and_ordered(d)
    assert d.ranges[0].level == first and d.ranges[-1].level == last
    assert [r.level for r in d.ranges] == list(FINE_LEVELS[INDEX[first] : INDEX[last] + 1])
    for r in d.ranges:
        want_first, want_last = s.boundaries[r.level]
        assert abs(r.first - want_first) <= 1 and abs(r.last - want_last) <= 1, r
    # Ranges cut by the field of view are short, not implausible.
    assert not d.flags
    argmax_acc, decoded_acc = _accuracies(s, d)
    assert decoded_acc >= argmax_acc and decoded_acc >= 0.98


# --- geometry and order --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["whole", "abdomen"])
def test_reversed_series_is_detected_and_decoded_in_its_own_indices(field: str) -> None:
    kwargs = {"first": "T10", "start_frac": 0.6} if field == "abdomen" else {}
    s = _series(6, spacing_mm=2.5, noise=REALISTIC, **kwargs)
    forward, backward = _decode(s), _decode(s.reversed())
    assert not forward.reversed and backward.reversed
    assert REVERSED in backward.flag_codes and REVERSED not in forward.flag_codes
    assert backward.log_score > backward.log_score_other_direction
    _assert_contiguous_and_ordered(backward)
    n = len(s.truth)
    assert np.array_equal(backward.levels, forward.levels[::-1])
    np.testing.assert_allclose(backward.marginals, forward.marginals[::-1], atol=1e-6)
    for f, b in zip(forward.ranges, backward.ranges, strict=True):
        assert (b.level, b.first, b.last, b.mid) == (
            f.level,
            n - 1 - f.last,
            n - 1 - f.first,
            n - 1 - f.mid,
        )
        assert (b.start_mm, b.end_mm) == (s.positions_mm[f.last], s.positions_mm[f.first])
    assert slice_accuracy(backward.levels, s.reversed().truth) >= 0.97


def test_gap_in_positions_is_flagged_where_it_is() -> None:
    s = _series(8, spacing_mm=2.5, noise=REALISTIC)
    keep = np.r_[0:120, 130 : len(s.truth)]  # ten slices (25 mm) missing after slice 119
    d = decode_series(s.probs[keep], s.positions_mm[keep])
    gaps = [f for f in d.flags if f.code == GAP]
    assert [(f.first, f.last) for f in gaps] == [(119, 120)]
    assert "27.5 mm" in gaps[0].message
    _assert_contiguous_and_ordered(d)
    truth = [s.truth[i] for i in keep]
    assert slice_accuracy(d.levels, truth) >= slice_accuracy(argmax_levels(s.probs[keep]), truth)


def test_merged_series_with_duplicate_positions_is_flagged_unordered() -> None:
    # Two reconstructions of one region interleaved: every position appears twice.
    s = _series(9, first="T4", last="T9", spacing_mm=2.5, noise=REALISTIC)
    probs = np.repeat(s.probs, 2, axis=0)
    positions = np.repeat(s.positions_mm, 2)
    d = decode_series(probs, positions)
    assert UNORDERED in d.flag_codes
    _assert_contiguous_and_ordered(d)


def test_non_monotone_positions_are_flagged_unordered() -> None:
    s = _series(9, first="T4", last="T9", spacing_mm=2.5)
    positions = s.positions_mm.copy()
    positions[[40, 41]] = positions[[41, 40]]
    d = decode_series(s.probs, positions)
    flag = next(f for f in d.flags if f.code == UNORDERED)
    assert (flag.first, flag.last) == (40, 41) and "direction" in flag.message
    assert GAP not in d.flag_codes


# --- ranges: mid slice and confidence --------------------------------------------------------


def test_mid_slice_is_inside_its_range_and_nearest_its_centre() -> None:
    s = _series(10, spacing_mm=1.25, noise=REALISTIC)
    d = _decode(s)
    pos = s.positions_mm
    for r in d.ranges:
        assert r.first <= r.mid <= r.last
        centre = (pos[r.first] + pos[r.last]) / 2
        nearest = np.min(np.abs(pos[r.first : r.last + 1] - centre))
        assert abs(pos[r.mid] - centre) == pytest.approx(nearest)
        assert r.start_mm == pos[r.first] and r.end_mm == pos[r.last]
        assert r.length_mm == pytest.approx(abs(pos[r.last] - pos[r.first]) + 1.25)


def test_confidence_is_low_where_the_evidence_is_flat() -> None:
    flat = ("T5", "T6", "T7", "T8")
    s = _series(12, spacing_mm=2.5, noise=Noise(jitter=0.5, flat_levels=flat))
    d = _decode(s)
    _assert_contiguous_and_ordered(d)
    flat_ranges = [r for r in d.ranges if r.level in flat]
    clear_ranges = [r for r in d.ranges if r.level not in flat]
    assert max(r.confidence for r in flat_ranges) < min(r.confidence for r in clear_ranges)
    flagged = {f.level for f in d.flags if f.code == LOW_CONFIDENCE}
    assert flagged == set(flat)
    in_flat = np.isin(d.levels, [INDEX[k] for k in flat])
    assert d.confidence[in_flat].mean() < d.confidence[~in_flat].mean() - 0.1
    np.testing.assert_allclose(d.marginals.sum(axis=1), 1.0, atol=1e-6)


def test_posterior_confidence_drops_at_uncertain_slices() -> None:
    s = _series(13, spacing_mm=2.5, noise=Noise(jitter=0.5))
    probs = s.probs.copy()
    t8 = slice(*(np.array(s.boundaries["T8"]) + [0, 1]))
    probs[t8] = 1.0 / NUM_CLASSES  # the classifier has no idea over T8
    d = decode_series(probs, s.positions_mm)
    assert _range(d, "T8").agreement < 0.25
    assert d.confidence[t8].mean() < _range(d, "T3").confidence


# --- anatomy: skipped levels, lengths, transitional vertebrae -----------------------------


def test_a_level_the_evidence_skips_is_tolerated_and_flagged() -> None:
    noise = Noise(jitter=0.8, flip_rate=0.02)
    s = _series(14, spacing_mm=2.5, noise=noise, segments=spine(missing=("T7",)))
    d = _decode(s)
    _assert_contiguous_and_ordered(d)
    assert "T7" not in [r.level for r in d.ranges]
    skip = next(f for f in d.flags if f.code == SKIPPED_LEVEL)
    assert skip.level == "T7" and skip.first == _range(d, "T6").last
    assert slice_accuracy(d.levels, s.truth) >= 0.97


def test_a_level_is_not_skipped_for_weak_evidence() -> None:
    # T7 mostly misread as its neighbours: the decoder still finds room for it.
    noise = Noise(jitter=0.5, confusions=(("T7", "T6", 0.35), ("T7", "T8", 0.35)))
    s = _series(15, spacing_mm=2.5, noise=noise)
    d = _decode(s)
    assert [r.level for r in d.ranges] == list(FINE_LEVELS)
    assert SKIPPED_LEVEL not in d.flag_codes


def test_implausible_lengths_are_flagged() -> None:
    segs = spine(stretch={"T8": 2.0, "L2": 0.25})
    s = _series(16, spacing_mm=2.5, noise=Noise(jitter=0.5), segments=segs)
    d = _decode(s)
    assert {f.level for f in d.flags if f.code == IMPLAUSIBLE_LENGTH} == {"T8", "L2"}


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize(("extra", "code"), [("T13", TRANSITIONAL_T13), ("L6", TRANSITIONAL_L6)])
def test_an_extra_vertebra_is_reported_with_its_slices(
    extra: str, code: str, spacing: float
) -> None:
    s = _series(17, spacing_mm=spacing, noise=REALISTIC, segments=spine(extra=extra))
    d = _decode(s)
    _assert_contiguous_and_ordered(d)
    transitional = [f for f in d.flags if f.code.startswith("transitional")]
    assert [f.code for f in transitional] == [code]
    assert IMPLAUSIBLE_LENGTH not in d.flag_codes  # explained, not flagged twice
    flag, (first, last) = transitional[0], s.boundaries[extra]
    assert flag.first is not None and flag.last is not None
    overlap = min(flag.last, last) - max(flag.first, first) + 1
    assert overlap >= 0.5 * (last - first + 1)


def _true_disc_probs(s: SyntheticSeries, sharpness: float = 0.95) -> np.ndarray:
    """A disc output that is right about every disc, the extra vertebra's included."""
    return np.where(s.in_disc, sharpness, 1.0 - sharpness)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize(("extra", "code"), [("T13", TRANSITIONAL_T13), ("L6", TRANSITIONAL_L6)])
def test_with_disc_evidence_an_extra_vertebra_is_counted_at_its_discs(
    extra: str, code: str, spacing: float
) -> None:
    # The extra vertebra shares a range with a neighbour: the disc inside that range says so.
    s = _series(17, spacing_mm=spacing, noise=REALISTIC, segments=spine(extra=extra))
    d = _decode(s, disc_probs=_true_disc_probs(s))
    _assert_contiguous_and_ordered(d)
    transitional = [f for f in d.flags if f.code.startswith("transitional")]
    assert [f.code for f in transitional] == [code]
    assert "disc inside" in transitional[0].message
    flag, (first, last) = transitional[0], s.boundaries[extra]
    assert flag.first is not None and flag.last is not None
    overlap = min(flag.last, last) - max(flag.first, first) + 1
    assert overlap >= 0.5 * (last - first + 1)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_with_disc_evidence_a_missing_l5_s1_disc_is_reported_as_lumbosacral(
    spacing: float,
) -> None:
    # Sacralised L5: the disc output finds no disc where L5 meets the sacrum.
    s = _series(18, spacing_mm=spacing, noise=Noise(jitter=0.5))
    disc = _true_disc_probs(s)
    j = sum(s.boundaries["L5"]) // 2
    while not s.in_disc[j]:
        j += 1
    while s.in_disc[j]:
        disc[j] = 0.05
        j += 1
    d = _decode(s, disc_probs=disc)
    transitional = [f for f in d.flags if f.code.startswith("transitional")]
    assert [(f.code, f.level) for f in transitional] == [(TRANSITIONAL_LUMBOSACRAL, "L5")]
    assert "L5/S1 disc" in transitional[0].message


def test_with_disc_evidence_normal_spines_raise_no_transitional_flag() -> None:
    for seed, spacing in itertools.product(range(5), SPACINGS):
        rng = np.random.default_rng(seed)
        s = synthetic_series(rng, spacing_mm=spacing, noise=REALISTIC,
                             segments=spine(scale=float(rng.uniform(0.9, 1.1))))  # fmt: skip
        d = _decode(s, disc_probs=_true_disc_probs(s))
        assert not [f for f in d.flags if f.code.startswith("transitional")], (seed, spacing)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_sacralised_l5_is_reported_as_lumbosacral(spacing: float) -> None:
    s = _series(18, spacing_mm=spacing, noise=Noise(jitter=0.5), segments=spine(sacralised_l5=True))
    d = _decode(s)
    flag = next(f for f in d.flags if f.code.startswith("transitional"))
    assert flag.code == TRANSITIONAL_LUMBOSACRAL and flag.level == "L5"
    first, last = s.boundaries["L5"]
    assert flag.first is not None and flag.last is not None
    assert flag.first <= last and flag.last >= first


def test_no_anatomy_flags_on_normal_spines() -> None:
    for seed, spacing in itertools.product(range(5), SPACINGS):
        rng = np.random.default_rng(seed)
        segs = spine(scale=float(rng.uniform(0.9, 1.1)))
        s = synthetic_series(rng, spacing_mm=spacing, noise=REALISTIC, segments=segs)
        d = _decode(s)
        assert not d.flags, (seed, spacing, d.flags)


# --- interface ------------------------------------------------------------------------------


def test_result_is_json_serialisable() -> None:
    s = _series(19, spacing_mm=5.0, noise=REALISTIC, first="T10", start_frac=0.5)
    d = _decode(s.reversed())
    out = json.loads(json.dumps(d.to_dict(include_marginals=True)))
    assert out["reversed"] is True and out["flags"][0]["code"] == REVERSED
    assert len(out["levels"]) == len(out["confidence"]) == len(s.truth)
    assert len(out["marginals"]) == len(s.truth) and len(out["marginals"][0]) == NUM_CLASSES
    assert set(out["ranges"][0]) == {
        "level",
        "index",
        "first",
        "last",
        "mid",
        "start_mm",
        "end_mm",
        "length_mm",
        "confidence",
        "agreement",
    }
    assert "marginals" not in d.to_dict()


def test_argmax_and_accuracy_helpers() -> None:
    probs = np.eye(NUM_CLASSES)[[0, 1, 1, 2]]
    assert list(argmax_levels(probs)) == [0, 1, 1, 2]
    assert slice_accuracy([0, 1, 1, 2], ["Cervical", None, "T2", 2]) == pytest.approx(2 / 3)
    assert slice_accuracy(np.array([0, 5]), [0, None]) == 1.0
    with pytest.raises(ValueError):
        slice_accuracy([0, 1], [None, None])
    with pytest.raises(ValueError):
        slice_accuracy([0, 1, 2], [0, 1])


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        decode_series(np.ones((5, 7)), np.arange(5.0))
    with pytest.raises(ValueError):
        decode_series(np.ones((5, NUM_CLASSES)), np.arange(4.0))
    with pytest.raises(ValueError):
        decode_series(np.full((2, NUM_CLASSES), np.nan), np.arange(2.0))


def test_tiny_series_decode() -> None:
    one = decode_series(np.eye(NUM_CLASSES)[[INDEX["L3"]]], [100.0])
    assert one.level_names == ["L3"] and one.ranges[0].mid == 0
    two = decode_series(np.eye(NUM_CLASSES)[[INDEX["L3"], INDEX["L4"]]], [100.0, 97.5])
    assert two.level_names == ["L3", "L4"]


def test_1500_slices_decode_well_under_100_ms() -> None:
    s = _series(20, spacing_mm=0.47, noise=REALISTIC)
    probs, positions = s.probs[:1500], s.positions_mm[:1500]
    assert probs.shape[0] == 1500
    timings = []
    for _ in range(3):  # CPU time: the test machine is shared, wall time is not ours
        start = time.process_time()
        d = decode_series(probs, positions)
        timings.append(time.process_time() - start)
    assert min(timings) < 0.1, timings
    assert slice_accuracy(d.levels, s.truth[:1500]) >= 0.98

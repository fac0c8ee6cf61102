"""Synthetic per-slice probabilities with known truth, for tests and benchmarks of the
decoder: a spine laid out in mm from the reference anatomy, sampled at a slice spacing,
then blurred, jittered and corrupted the ways a per-slice classifier goes wrong."""

from dataclasses import dataclass, field

import numpy as np

from ml_worker.decoding.anatomy import BODY_MM, DISC_MM
from ml_worker.levels import FINE_LEVELS, INDEX, NUM_CLASSES

# What an extra vertebra looks like to a 19-class classifier: it has no class of its own.
EXTRA_LOOKS = {"T13": {"T12": 0.75, "L1": 0.25}, "L6": {"L5": 0.65, "Sacral": 0.35}}
OPEN_END_MM = 1.0e4  # the sacral "body" runs on into coccyx and pelvis


@dataclass(frozen=True)
class Segment:
    name: str
    truth: int | None  # class of its body slices; None for an extra (transitional) vertebra
    looks: np.ndarray  # [K] evidence its body slices give
    top_mm: float  # depth of the top of the body below the top of C1
    body_mm: float
    disc_mm: float  # disc below the body


@dataclass(frozen=True)
class Noise:
    blur: float = 0.1  # mass each slice spills onto each neighbouring level
    jitter: float = 0.3  # sd of Gaussian noise on log-probabilities
    flip_rate: float = 0.0  # slices replaced by a confident random wrong class
    # (true level, level it is mistaken for, per-slice rate): e.g. T6 read as T7.
    confusions: tuple[tuple[str, str, float], ...] = ()
    flat_levels: tuple[str, ...] = ()  # levels whose slices (and disc below) carry no information


@dataclass(frozen=True)
class SyntheticSeries:
    probs: np.ndarray  # [N, 19]
    positions_mm: np.ndarray  # [N], decreasing (superior first, DICOM z)
    truth: list[int | None]  # class per slice; None in discs and extra vertebrae
    # Per level present (and extra vertebra, "T13"/"L6"): first and last slice, discs split
    # at their middle.
    boundaries: dict[str, tuple[int, int]] = field(default_factory=dict)
    in_disc: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # [N]

    def reversed(self) -> "SyntheticSeries":
        n = len(self.truth)
        flipped = {k: (n - 1 - b, n - 1 - a) for k, (a, b) in self.boundaries.items()}
        return SyntheticSeries(
            self.probs[::-1], self.positions_mm[::-1], self.truth[::-1], flipped, self.in_disc[::-1]
        )


def spine(
    scale: float = 1.0,
    extra: str | None = None,
    sacralised_l5: bool = False,
    stretch: dict[str, float] | None = None,
    missing: tuple[str, ...] = (),
) -> list[Segment]:
    """Segments superior → inferior. `extra` inserts "T13" below T12 or "L6" below L5;
    `stretch` multiplies named levels' lengths; `missing` leaves levels out."""
    segs: list[Segment] = []
    depth = 0.0
    for k, name in enumerate(FINE_LEVELS):
        if name in missing:
            continue
        f = scale * (stretch or {}).get(name, 1.0)
        looks = _mix({"L5": 0.5, "Sacral": 0.5}) if name == "L5" and sacralised_l5 else _onehot(k)
        body = OPEN_END_MM if name == "Sacral" else f * BODY_MM[k]
        segs.append(Segment(name, k, looks, depth, body, f * DISC_MM[k]))
        depth += body + f * DISC_MM[k]
        if extra is not None and name == {"T13": "T12", "L6": "L5"}[extra]:
            segs.append(
                Segment(
                    extra, None, _mix(EXTRA_LOOKS[extra]), depth, f * BODY_MM[k], f * DISC_MM[k]
                )
            )
            depth += f * (BODY_MM[k] + DISC_MM[k])
    return segs


def synthetic_series(
    rng: np.random.Generator,
    *,
    first: str = "Cervical",
    last: str = "Sacral",
    spacing_mm: float = 2.5,
    start_frac: float = 0.0,
    end_frac: float = 1.0,
    noise: Noise | None = None,
    segments: list[Segment] | None = None,
) -> SyntheticSeries:
    """Slices every `spacing_mm` from `start_frac` into level `first` to `end_frac` into
    level `last` (fractions of body + disc; Sacral counts as 100 mm)."""
    segs = segments or spine()
    top = _depth_at(segs, first, start_frac)
    depth = np.arange(top, _depth_at(segs, last, end_frac), spacing_mm)
    clean, truth, where = _clean(segs, depth)
    noise = noise or Noise()
    flat = np.array([segs[j].name in noise.flat_levels for j in where])
    probs = _corrupt(clean, truth, flat, rng, noise)
    tops = np.array([segs[j].top_mm + segs[j].body_mm for j in where])
    in_disc = (depth >= tops) & (where < len(segs) - 1)
    return SyntheticSeries(probs, 1000.0 - depth, truth, _boundaries(segs, depth), in_disc)


def _depth_at(segs: list[Segment], name: str, frac: float) -> float:
    s = next(s for s in segs if s.name == name)
    extent = 100.0 if name == "Sacral" else s.body_mm + s.disc_mm
    return s.top_mm + frac * extent


def _clean(
    segs: list[Segment], depth: np.ndarray
) -> tuple[np.ndarray, list[int | None], np.ndarray]:
    """Evidence and truth per slice, and the segment each slice lies in (body or the disc
    below it)."""
    tops = np.array([s.top_mm for s in segs])
    idx = np.clip(np.searchsorted(tops, depth, side="right") - 1, 0, len(segs) - 1)
    clean = np.empty((depth.size, NUM_CLASSES))
    truth: list[int | None] = []
    for i, (z, j) in enumerate(zip(depth, idx, strict=True)):
        s = segs[j]
        into = z - s.top_mm
        if into < s.body_mm or j + 1 == len(segs):
            clean[i], label = s.looks, s.truth
        else:  # in the disc: evidence slides from the level above to the one below
            f = (into - s.body_mm) / s.disc_mm
            clean[i], label = (1 - f) * s.looks + f * segs[j + 1].looks, None
        truth.append(label)
    return clean, truth, idx


def _boundaries(segs: list[Segment], depth: np.ndarray) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for j, s in enumerate(segs):
        upper = s.top_mm - (segs[j - 1].disc_mm / 2 if j else 0.0)
        lower = s.top_mm + s.body_mm + s.disc_mm / 2
        inside = np.flatnonzero((depth >= upper) & (depth < lower))
        if inside.size:
            out[s.name] = (int(inside[0]), int(inside[-1]))
    return out


def _corrupt(
    clean: np.ndarray,
    truth: list[int | None],
    flat: np.ndarray,
    rng: np.random.Generator,
    noise: Noise,
) -> np.ndarray:
    p = (1 - 2 * noise.blur) * clean
    p[:, 1:] += noise.blur * clean[:, :-1]
    p[:, :-1] += noise.blur * clean[:, 1:]
    p /= p.sum(axis=1, keepdims=True)  # the end classes spill to one side only
    logits = np.log(p + 1e-4) + noise.jitter * rng.standard_normal(p.shape)
    logits[flat] = noise.jitter * rng.standard_normal((int(flat.sum()), NUM_CLASSES))
    probs = _softmax(logits)
    labels = np.array([-1 if t is None else t for t in truth])
    for level, other, rate in noise.confusions:
        hit = np.flatnonzero((labels == INDEX[level]) & (rng.random(labels.size) < rate))
        a, b = INDEX[level], INDEX[other]
        probs[hit, a], probs[hit, b] = probs[hit, b], probs[hit, a]
    flips = np.flatnonzero(rng.random(labels.size) < noise.flip_rate)
    for i in flips:
        wrong = (int(np.argmax(clean[i])) + rng.integers(1, NUM_CLASSES)) % NUM_CLASSES
        probs[i] = 0.1 / (NUM_CLASSES - 1)
        probs[i, wrong] = 0.9
    return probs


def _onehot(k: int) -> np.ndarray:
    v = np.zeros(NUM_CLASSES)
    v[k] = 1.0
    return v


def _mix(weights: dict[str, float]) -> np.ndarray:
    v = np.zeros(NUM_CLASSES)
    for name, w in weights.items():
        v[INDEX[name]] = w
    return v


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

"""Per-level agreement of slice labelings: model against each labeler and
labelers against each other, as the Dice coefficient of the sets of slices
that carry the level. Pure functions, no database.

A labeling takes part for a level only when its scheme can say that level
exactly: a chest track (which has only "Lumbar") says nothing about L3, an
abdomen track nothing about T5; a fine track (or the model) speaks for the
coarse "Lumbar" through the union of its L1..L5 slices. Transitional T13/L6
and disc are compared by name, and the model has no class for them."""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from annotations.vocabulary import DISC, REPORT_ORDER, SCHEMES, TRANSITIONAL, Scheme, fine_set

Labels = Sequence[str | None]


@dataclass(frozen=True)
class Labeling:
    scheme: str
    labels: Labels


@dataclass(frozen=True)
class LevelAgreement:
    level: str
    model_vs_human: float | None  # mean Dice of the model against each labeler
    between_labelers: float | None  # mean Dice over pairs of labelers
    slices: int  # slices that carry the level in the model or any track


def dice(a: frozenset[int], b: frozenset[int]) -> float | None:
    """2|A∩B| / (|A|+|B|); None when both are empty (nothing to agree on)."""
    total = len(a) + len(b)
    return None if total == 0 else 2 * len(a & b) / total


def slice_set(labeling: Labeling, level: str) -> frozenset[int] | None:
    """The slices `labeling` assigns to `level`, or None if its scheme cannot say it."""
    if level == DISC or level in TRANSITIONAL:
        return frozenset(i for i, label in enumerate(labeling.labels) if label == level)
    wanted = fine_set(level)
    inside = [fine_set(name) for name in SCHEMES[labeling.scheme]]
    if frozenset().union(*(f for f in inside if f <= wanted)) != wanted:
        return None
    return frozenset(
        i
        for i, label in enumerate(labeling.labels)
        if label is not None
        and label != DISC
        and label not in TRANSITIONAL
        and fine_set(label) <= wanted
    )


def level_agreement(model: Labels | None, tracks: Sequence[Labeling]) -> list[LevelAgreement]:
    """Agreement for every level that appears in the model or a track, in report order."""
    present = {label for t in tracks for label in t.labels} | set(model or [])
    model_labeling = Labeling(Scheme.FINE, model) if model is not None else None
    rows = []
    for level in REPORT_ORDER:
        if level not in present:
            continue
        human = [s for s in (slice_set(t, level) for t in tracks) if s is not None]
        model_set = None
        if model_labeling is not None and level != DISC and level not in TRANSITIONAL:
            model_set = slice_set(model_labeling, level)
        vs_model = [dice(model_set, h) for h in human] if model_set is not None else []
        pairs = [dice(a, b) for a, b in combinations(human, 2)]
        union = frozenset().union(*human, model_set or frozenset())
        rows.append(LevelAgreement(level, _mean(vs_model), _mean(pairs), len(union)))
    return rows


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 4) if known else None

"""The spine-level schema: the 19 classifier classes, the coarse schemes that
hospitals label in, and transitional vertebrae.

Classes are ordered superior → inferior, so a class index is also a position
along the body axis (the sequence decoder relies on this). Slices through an
intervertebral disc carry no level label (None). A coarse label is a set of
fine classes: it constrains a fine prediction without contradicting it."""

from dataclasses import dataclass

FINE_LEVELS: tuple[str, ...] = (
    "Cervical",
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "Sacral",
)
NUM_CLASSES = len(FINE_LEVELS)  # 19
INDEX = {name: i for i, name in enumerate(FINE_LEVELS)}
THORACIC = frozenset(INDEX[f"T{i}"] for i in range(1, 13))
LUMBAR = frozenset(INDEX[f"L{i}"] for i in range(1, 6))

# Transitional anatomy: a 13th rib-bearing vertebra or a 6th lumbar one. The
# classifier has no class for them; a label may name them, and they count as
# either neighbour when training.
TRANSITIONAL: dict[str, frozenset[int]] = {
    "T13": frozenset({INDEX["T12"], INDEX["L1"]}),
    "L6": frozenset({INDEX["L5"], INDEX["Sacral"]}),
}

# A classifier may have one output beyond the 19 levels: "this slice cuts a disc". Discs
# are the boundaries between vertebrae, which the sequence decoder counts levels by.
DISC_INDEX = NUM_CLASSES

# Levels reported in the body-composition literature; L3 is the default.
SARCOPENIA_LEVELS: tuple[str, ...] = ("L3", "T4", "T7", "T8", "T10", "T12")


@dataclass(frozen=True)
class Scheme:
    """A label vocabulary; each label maps to the set of fine classes it allows."""

    name: str
    labels: dict[str, frozenset[int]]

    def allowed(self, label: str) -> frozenset[int]:
        if label in self.labels:
            return self.labels[label]
        if label in TRANSITIONAL:
            return TRANSITIONAL[label]
        raise KeyError(f"{label!r} is not a label of the {self.name} scheme")


FINE = Scheme("fine", {name: frozenset({i}) for i, name in enumerate(FINE_LEVELS)})
CHEST = Scheme(
    "chest",
    {
        "Cervical": frozenset({INDEX["Cervical"]}),
        **{f"T{i}": frozenset({INDEX[f"T{i}"]}) for i in range(1, 13)},
        "Lumbar": LUMBAR,
    },
)
ABDOMEN = Scheme(
    "abdomen",
    {
        "Thoracic": THORACIC,
        **{f"L{i}": frozenset({INDEX[f"L{i}"]}) for i in range(1, 6)},
        "Sacral": frozenset({INDEX["Sacral"]}),
    },
)
SCHEMES = {s.name: s for s in (FINE, CHEST, ABDOMEN)}


def target_mask(label: str | None, scheme: str = "fine") -> list[bool] | None:
    """Set-valued training target: which of the 19 classes the label allows.
    None for an unlabeled (disc) slice."""
    if label is None:
        return None
    allowed = SCHEMES[scheme].allowed(label)
    return [i in allowed for i in range(NUM_CLASSES)]

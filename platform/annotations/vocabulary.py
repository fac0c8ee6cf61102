"""The level labels people may assign, per scheme: the platform's copy of
ml_worker.levels (the platform never imports ml_worker; a test keeps the two
in step).

Each label stands for a set of fine classes. A coarse label (chest "Lumbar",
abdomen "Thoracic") constrains without contradicting a fine one. Transitional
T13/L6 and "disc" are valid in every scheme; None means unlabeled."""

from enum import StrEnum

FINE_LEVELS: tuple[str, ...] = (
    "Cervical",
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "Sacral",
)
THORACIC = frozenset(f"T{i}" for i in range(1, 13))
LUMBAR = frozenset(f"L{i}" for i in range(1, 6))
TRANSITIONAL: dict[str, frozenset[str]] = {
    "T13": frozenset({"T12", "L1"}),
    "L6": frozenset({"L5", "Sacral"}),
}
DISC = "disc"


class Scheme(StrEnum):
    FINE = "fine"
    CHEST = "chest"
    ABDOMEN = "abdomen"


# Label -> the fine classes it allows, in anatomical order.
SCHEMES: dict[str, dict[str, frozenset[str]]] = {
    Scheme.FINE: {name: frozenset({name}) for name in FINE_LEVELS},
    Scheme.CHEST: {
        "Cervical": frozenset({"Cervical"}),
        **{f"T{i}": frozenset({f"T{i}"}) for i in range(1, 13)},
        "Lumbar": LUMBAR,
    },
    Scheme.ABDOMEN: {
        "Thoracic": THORACIC,
        **{f"L{i}": frozenset({f"L{i}"}) for i in range(1, 6)},
        "Sacral": frozenset({"Sacral"}),
    },
}
COARSE_LABELS: dict[str, frozenset[str]] = {"Thoracic": THORACIC, "Lumbar": LUMBAR}

# Every level name in reporting order: anatomical (transitional ones after
# their upper neighbour), then the coarse groups, then disc.
REPORT_ORDER: tuple[str, ...] = (
    *FINE_LEVELS[:13],  # Cervical, T1..T12
    "T13",
    *FINE_LEVELS[13:18],  # L1..L5
    "L6",
    "Sacral",
    "Thoracic",
    "Lumbar",
    DISC,
)


def is_valid(label: str | None, scheme: str) -> bool:
    """May `label` be assigned in `scheme`? None (unlabeled) always may."""
    if label is None or label == DISC or label in TRANSITIONAL:
        return True
    return label in SCHEMES.get(scheme, {})


def fine_set(label: str) -> frozenset[str]:
    """The fine classes a level label stands for (empty for disc and unknown names)."""
    if label in FINE_LEVELS:
        return frozenset({label})
    return COARSE_LABELS.get(label) or TRANSITIONAL.get(label) or frozenset()


def convert(label: str | None, scheme: str) -> str | None:
    """The label of `scheme` that says the same or, coarser, the least it
    implies: fine L3 becomes chest "Lumbar". None when the scheme cannot say
    it (chest "Lumbar" in the fine scheme, Cervical in the abdomen scheme)."""
    if label is None or label == DISC or label in TRANSITIONAL:
        return label
    labels = SCHEMES[scheme]
    if label in labels:
        return label
    wanted = fine_set(label)
    if not wanted:
        return None
    return next((name for name, fine in labels.items() if wanted <= fine), None)

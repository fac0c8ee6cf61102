import pytest

from ml_worker.levels import (
    ABDOMEN,
    CHEST,
    FINE_LEVELS,
    INDEX,
    NUM_CLASSES,
    target_mask,
)


def test_nineteen_classes_ordered_head_to_feet() -> None:
    assert NUM_CLASSES == 19 == len(set(FINE_LEVELS))
    assert FINE_LEVELS[0] == "Cervical" and FINE_LEVELS[-1] == "Sacral"
    assert INDEX["T12"] + 1 == INDEX["L1"] and INDEX["L5"] + 1 == INDEX["Sacral"]


def test_coarse_schemes_have_14_and_7_labels_covering_their_classes() -> None:
    assert len(CHEST.labels) == 14 and len(ABDOMEN.labels) == 7
    assert set().union(*CHEST.labels.values()) == set(range(INDEX["Sacral"]))
    assert set().union(*ABDOMEN.labels.values()) == set(range(1, NUM_CLASSES))


def test_coarse_label_constrains_without_contradicting() -> None:
    lumbar = target_mask("Lumbar", "chest")
    assert [FINE_LEVELS[i] for i, ok in enumerate(lumbar) if ok] == ["L1", "L2", "L3", "L4", "L5"]
    thoracic = target_mask("Thoracic", "abdomen")
    assert sum(thoracic) == 12 and not thoracic[INDEX["L1"]]
    assert target_mask("L3", "abdomen") == target_mask("L3", "fine")


def test_disc_slices_and_transitional_labels() -> None:
    assert target_mask(None) is None
    t13 = target_mask("T13")
    assert [FINE_LEVELS[i] for i, ok in enumerate(t13) if ok] == ["T12", "L1"]
    with pytest.raises(KeyError):
        target_mask("Lumbar", "fine")

"""The platform's copy of the level vocabulary stays in step with ml_worker's."""

import pytest

from annotations import vocabulary as v
from ml_worker import levels as ml


def test_it_has_the_workers_fine_classes_in_order() -> None:
    assert v.FINE_LEVELS == ml.FINE_LEVELS


@pytest.mark.parametrize("scheme", ["fine", "chest", "abdomen"])
def test_it_has_the_workers_schemes(scheme: str) -> None:
    worker = ml.SCHEMES[scheme].labels
    as_names = {label: frozenset(ml.FINE_LEVELS[i] for i in idx) for label, idx in worker.items()}
    assert v.SCHEMES[scheme] == as_names
    assert list(v.SCHEMES[scheme]) == list(worker)  # same (anatomical) order


def test_it_has_the_workers_transitional_labels() -> None:
    worker = {k: frozenset(ml.FINE_LEVELS[i] for i in idx) for k, idx in ml.TRANSITIONAL.items()}
    assert worker == v.TRANSITIONAL


@pytest.mark.parametrize(
    ("label", "scheme", "valid"),
    [
        ("L3", "fine", True),
        ("Lumbar", "fine", False),
        ("Lumbar", "chest", True),
        ("L3", "chest", False),
        ("Thoracic", "abdomen", True),
        ("T5", "abdomen", False),
        ("T13", "abdomen", True),
        ("L6", "chest", True),
        ("disc", "fine", True),
        (None, "abdomen", True),
        ("l3", "fine", False),
        ("L3", "nope", False),
    ],
)
def test_it_accepts_the_labels_of_each_scheme(label: str | None, scheme: str, valid: bool) -> None:
    assert v.is_valid(label, scheme) is valid
    if valid and label not in (None, "disc") and scheme in ml.SCHEMES:
        ml.SCHEMES[scheme].allowed(label)  # the worker can train on it


@pytest.mark.parametrize(
    ("label", "scheme", "converted"),
    [
        ("L3", "chest", "Lumbar"),
        ("T5", "abdomen", "Thoracic"),
        ("T5", "chest", "T5"),
        ("Lumbar", "fine", None),
        ("Thoracic", "chest", None),
        ("Cervical", "abdomen", None),
        ("T13", "chest", "T13"),
        ("disc", "abdomen", "disc"),
        (None, "chest", None),
    ],
)
def test_it_converts_between_schemes(label: str | None, scheme: str, converted: str | None) -> None:
    assert v.convert(label, scheme) == converted

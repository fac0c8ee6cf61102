"""Per-level agreement (Dice of slice sets) on a constructed example, as a
pure function and as the labels endpoint reports it."""

import pytest

from annotations.agreement import Labeling, level_agreement
from tests import factories
from tests.annotations.helpers import classify, url
from tests.conftest import World, client_for

MODEL = ["T12", "T12", "L1", "L1", "L1", "L2", "L2", "L2", None, "L3"]
TRACK_A = ["T12", "T12", "T12", "L1", "L1", "L2", "L2", "L2", "disc", "L3"]
TRACK_B = ["T12", "L1", "L1", "L1", "L1", "L2", "L2", "disc", "disc", "L3"]
# level: (model vs human, between labelers, slices), worked out by hand:
# T12: model {0,1}, A {0,1,2}, B {0}: vs A 4/5, vs B 2/3 -> 0.7333; A-B 2/4
# L1: model {2,3,4}, A {3,4}, B {1,2,3,4}: vs A 4/5, vs B 6/7 -> 0.8286; A-B 4/6
# L2: model {5,6,7}, A {5,6,7}, B {5,6}: 1 and 4/5 -> 0.9; A-B 4/5
# disc: the model has no such class; A {8}, B {7,8}: 2/3
EXPECTED = {
    "T12": (0.7333, 0.5, 3),
    "L1": (0.8286, 0.6667, 4),
    "L2": (0.9, 0.8, 3),
    "L3": (1.0, 1.0, 1),
    "disc": (None, 0.6667, 2),
}


def _table(rows: list) -> dict:
    return {r.level: (r.model_vs_human, r.between_labelers, r.slices) for r in rows}


def test_it_scores_each_level_by_dice() -> None:
    rows = level_agreement(MODEL, [Labeling("fine", TRACK_A), Labeling("fine", TRACK_B)])
    assert [r.level for r in rows] == ["T12", "L1", "L2", "L3", "disc"]
    table = _table(rows)
    for level, (vs_model, between, slices) in EXPECTED.items():
        assert table[level][2] == slices
        assert table[level][0] == (None if vs_model is None else pytest.approx(vs_model, abs=1e-4))
        assert table[level][1] == pytest.approx(between, abs=1e-4)


def test_coarse_tracks_speak_only_for_what_their_scheme_can_say() -> None:
    chest = ["T12", "T12", *["Lumbar"] * 6, None, "Lumbar"]
    abdomen = ["Thoracic", "Thoracic", "L1", "L1", "L1", "L2", "L2", "L2", None, "L3"]
    table = _table(level_agreement(MODEL, [Labeling("chest", chest), Labeling("abdomen", abdomen)]))
    # Both schemes can say Lumbar and Thoracic (the abdomen's L1..L5, the chest's T1..T12).
    assert table["Lumbar"] == (1.0, 1.0, 7)
    assert table["Thoracic"] == (1.0, 1.0, 2)
    assert table["T12"] == (1.0, None, 2)  # the abdomen track cannot say T12
    assert table["L1"] == (1.0, None, 3)  # the chest track cannot say L1


def test_nothing_to_compare_is_null() -> None:
    table = _table(level_agreement(MODEL, []))
    assert table["T12"] == (None, None, 2)
    assert level_agreement(None, []) == []
    transitional = _table(level_agreement(None, [Labeling("fine", ["T13", "L1"])]))
    assert transitional["T13"] == (None, None, 1)


def test_the_labels_endpoint_reports_agreement(world: World) -> None:
    series = factories.SeriesFactory(study=world.objects["study_own"], slice_count=10)
    classify(world, series, MODEL)
    for name, labels in (("a", TRACK_A), ("b", TRACK_B)):
        author = factories.UserFactory(username=f"track_{name}", institution=world.inst_a)
        factories.LabelTrackFactory(series=series, author=author, labels=labels)
    body = client_for(world.users["reviewer"]).get(url(series)).json()
    reported = {
        row["level"]: (row["model_vs_human"], row["between_labelers"], row["slices"])
        for row in body["agreement"]
    }
    assert list(reported) == ["T12", "L1", "L2", "L3", "disc"]
    assert reported == EXPECTED

"""Review queues: ranked by model uncertainty and disagreement, with reasons,
split by review state and scoped to the user's institutions."""

from typing import Any

from annotations import services as label_services
from annotations.agreement import Labeling
from learning.queue import disagreement_of, uncertainty_of
from tests.annotations.helpers import classify
from tests.conftest import World, client_for
from tests.learning.helpers import new_series, submitted

LEVELS = ["T6", "T7", "T7", "T8", "T8", "T9"]


def _classified(world: World, inst: Any, confidence: list[float]) -> Any:
    series = new_series(world, inst)
    levels = classify(world, series, LEVELS)
    levels.slice_confidence = confidence
    levels.save()
    return series


def _queue(world: World, user: str, role: str) -> list[dict[str, Any]]:
    response = client_for(world.users[user]).get(
        f"/api/v1/projects/{world.project.pk}/review-queue/?role={role}"
    )
    assert response.status_code == 200, response.content[:300]
    assert response.json()["role"] == role
    return response.json()["items"]


def test_uncertainty_and_disagreement_measures() -> None:
    unc = uncertainty_of(LEVELS, [0.9, 0.4, 0.5, 0.9, 0.8, 0.95])
    assert unc is not None and unc.weakest_level == "T7" and unc.min_confidence == 0.4
    assert unc.weakest_level_confidence == 0.45
    assert uncertainty_of([], []) is None
    score, level, dice = disagreement_of(LEVELS, [Labeling("fine", ["T6", "T8", *LEVELS[2:]])])
    assert level == "T7" and dice is not None and round(dice, 4) == 0.6667
    assert score == round(1 - dice, 4)
    assert disagreement_of(LEVELS, []) == (0.0, None, None)


def test_labeler_queue_ranks_uncertain_and_disputed_series_first(world: World) -> None:
    sure = _classified(world, world.inst_a, [0.95] * 6)
    unsure = _classified(world, world.inst_a, [0.9, 0.3, 0.35, 0.9, 0.9, 0.9])
    disputed = _classified(world, world.inst_a, [0.95] * 6)
    label_services.labels_edit(
        series=disputed, user=world.users["labeler"], base_revision=0, start=1, end=2, label="T10"
    )
    done = new_series(world, world.inst_a)
    submitted(world, done)
    other = _classified(world, world.inst_b, [0.1] * 6)  # hospital B: not the labeler's

    items = _queue(world, "labeler", "labeler")

    ids = [item["series"] for item in items]
    assert ids[:3] == [disputed.pk, unsure.pk, sure.pk]
    assert done.pk not in ids and other.pk not in ids
    top, second = items[0], items[1]
    assert top["disagreement_level"] == "T7" and top["disagreement"] == 1.0
    assert any("disagreement at T7" in r for r in top["reasons"])
    assert second["weakest_level"] == "T7" and "weakest level T7 (0.33)" in second["reasons"][0]
    assert items[0]["score"] >= items[1]["score"] >= items[2]["score"]


def test_reviewer_queue_lists_submitted_series_of_every_centre(world: World) -> None:
    calm = new_series(world, world.inst_a)
    submitted(world, calm)
    edited = new_series(world, world.inst_b)
    submitted(world, edited, edit=True)  # the labeler changed slice 0: disagrees with the model
    open_series = _classified(world, world.inst_a, [0.2] * 6)

    ids = [item["series"] for item in _queue(world, "reviewer", "reviewer")]

    assert ids == [edited.pk, calm.pk]
    assert open_series.pk not in ids


def test_queue_refuses_a_bad_role_and_the_wrong_capability(world: World) -> None:
    url = f"/api/v1/projects/{world.project.pk}/review-queue/"
    bad = client_for(world.users["labeler"]).get(url + "?role=boss")
    assert bad.status_code == 400
    assert client_for(world.users["labeler"]).get(url + "?role=reviewer").status_code == 403
    assert client_for(world.users["outsider"]).get(url + "?role=labeler").status_code == 404

"""Starting measure_body_composition: parameter checks, and the slices of each
chosen level resolved from the classification or the verified labels."""

from typing import Any

import pytest

from analysis.models import Job, SeriesLevels
from annotations.models import ReviewStatus, SeriesReview
from tests import factories
from tests.conftest import World, client_for

UIDS = [f"1.2.3.{i}" for i in range(10)]


def _classify(series: Any) -> SeriesLevels:
    """A 10-slice classification: T12 0-2, L1 3-5, L3 6-9 (mid 8)."""
    levels = SeriesLevels.objects.filter(series=series).get()
    levels.slice_sop_instance_uids = UIDS
    levels.slice_levels = ["T12"] * 3 + ["L1"] * 3 + ["L3"] * 4
    levels.ranges = [
        {"level": "T12", "first": 0, "last": 2, "mid": 1},
        {"level": "L1", "first": 3, "last": 5, "mid": 4},
        {"level": "L3", "first": 6, "last": 9, "mid": 8},
    ]
    levels.save()
    return levels


def _start(world: World, parameters: dict[str, Any], role: str = "investigator") -> Any:
    return client_for(world.users[role]).post(
        "/api/v1/jobs/",
        {
            "project": world.project.pk,
            "job_type": "measure_body_composition",
            "series": world.objects["series_own"].pk,
            "parameters": parameters,
        },
        format="json",
    )


def test_levels_resolve_to_mid_slice_and_neighbours(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    _classify(world.objects["series_own"])
    study = world.objects["study_own"]
    study.patient_height_m, study.patient_weight_kg = 1.7, 70.0
    study.save()
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "analysis.services.current_app.send_task", lambda name, **kw: sent.append({name: kw})
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _start(world, {"levels": ["L3", "L1"], "slices_around": 1})
    assert response.status_code == 201, response.content
    params = Job.objects.get(pk=response.json()["id"]).parameters
    assert params["levels"] == [
        {"level": "L3", "sop_instance_uids": UIDS[7:10]},
        {"level": "L1", "sop_instance_uids": UIDS[3:6]},
    ]
    assert params["method"] == "threshold" and params["level_source"] == "model"
    assert params["patient"] == {"height_m": 1.7, "weight_kg": 70.0, "sex": "F"}
    (call,) = sent
    kwargs = call["ml_worker.measure_body_composition"]
    assert kwargs["queue"] == "gpu" and kwargs["kwargs"]["parameters"] == params


def test_neighbours_stay_inside_the_level(world: World) -> None:
    _classify(world.objects["series_own"])
    response = _start(world, {"levels": ["T12"], "slices_around": 5})
    assert response.status_code == 201
    assert response.json()["parameters"]["levels"][0]["sop_instance_uids"] == UIDS[0:3]


def test_verified_labels_take_precedence(world: World) -> None:
    levels = _classify(world.objects["series_own"])
    series = world.objects["series_own"]
    labels = ["T12"] * 2 + ["L1"] * 2 + ["L2"] * 2 + ["L3"] * 2 + [None, "L3"]
    track = factories.LabelTrackFactory(
        series=series, author=world.users["labeler"], labels=labels, source_levels=levels
    )
    SeriesReview.objects.create(
        series=series, status=ReviewStatus.VERIFIED, track=track, actor=world.users["reviewer"]
    )
    response = _start(world, {"levels": ["L2", "L3"]})
    assert response.status_code == 201, response.content
    params = response.json()["parameters"]
    assert params["level_source"] == "verified"
    assert params["levels"] == [
        {"level": "L2", "sop_instance_uids": [UIDS[4]]},
        {"level": "L3", "sop_instance_uids": [UIDS[6]]},
    ]


def test_a_series_without_levels_is_a_clear_400(world: World) -> None:
    SeriesLevels.objects.filter(series=world.objects["series_own"]).delete()
    response = _start(world, {"levels": ["L3"]})
    assert response.status_code == 400
    assert "no spine levels yet" in response.json()["message"]
    assert not Job.objects.filter(job_type="measure_body_composition").exists()


def test_an_absent_level_is_a_clear_400(world: World) -> None:
    _classify(world.objects["series_own"])
    response = _start(world, {"levels": ["L3", "L5"]})
    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["missing"] == ["L5"] and body["extra"]["available"] == ["L1", "L3", "T12"]


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"levels": []},
        {"levels": "L3"},
        {"levels": ["L3"], "method": "magic"},
        {"levels": ["L3"], "slices_around": -1},
        {"levels": ["L3"], "slices_around": 9},
        {"levels": ["L3"], "slices_around": "2"},
    ],
)
def test_bad_parameters_are_400(world: World, parameters: dict[str, Any]) -> None:
    _classify(world.objects["series_own"])
    assert _start(world, parameters).status_code == 400


def test_analysts_cannot_start_it(world: World) -> None:
    _classify(world.objects["series_own"])
    assert _start(world, {"levels": ["L3"]}, role="analyst").status_code == 403

"""Reading a series' labels, editing one's own track, stale revisions, bad
input, and undo that restores exactly what an edit replaced."""

from typing import Any

from annotations.models import LabelEdit
from audit.models import AuditEvent
from tests import factories
from tests.annotations.helpers import classify, labeler, url
from tests.conftest import World, client_for


def _edit(client: Any, series: Any, revision: int, start: int, end: int, label: Any, **kw: Any):
    body = {"base_revision": revision, "start": start, "end": end, "label": label, **kw}
    return client.post(url(series, "edits"), body, format="json")


def test_it_shows_the_latest_model_result_before_anyone_labels(world: World) -> None:
    series = world.objects["series_own"]
    levels = classify(world, series, ["T12", "L1", "L1"])
    classify(world, series, ["L4", "L4", "L4"], state="failed")  # never shown
    body = client_for(world.users["labeler"]).get(url(series)).json()
    assert body["series"] == series.pk and body["slice_count"] == 3
    assert body["slice_sop_instance_uids"] == ["2.25.100", "2.25.101", "2.25.102"]
    assert body["slice_positions_mm"] == [0.0, -2.0, -4.0]
    model = body["model"]
    assert model["levels_id"] == levels.pk and model["slice_levels"] == ["T12", "L1", "L1"]
    assert model["model_version"] == "7" and model["has_cams"] is False
    assert model["ranges"][0]["level"] == "L3" and model["flags"] == []
    assert body["tracks"] == [] and body["mine"] is None and body["locked"] is False
    assert body["review"] == {
        "status": "open",
        "track": None,
        "comment": "",
        "by": None,
        "at": None,
    }
    assert [row["level"] for row in body["agreement"]] == ["T12", "L1"]


def test_it_tells_each_user_what_they_may_do(world: World) -> None:
    series = world.objects["series_own"]
    expected = {
        "labeler": {"label": True, "review": False, "view_images": True},
        "reviewer": {"label": False, "review": True, "view_images": True},
        "analyst": {"label": False, "review": False, "view_images": False},
        "viewer": {"label": False, "review": False, "view_images": True},
    }
    for role, permissions in expected.items():
        body = client_for(world.users[role]).get(url(series)).json()
        assert body["permissions"] == permissions, role


def test_without_a_result_positions_come_from_the_index(world: World) -> None:
    series = factories.SeriesFactory(study=world.objects["study_own"])
    body = client_for(world.users["labeler"]).get(url(series)).json()
    assert body["model"] is None and body["slice_positions_mm"] == [0.0, 2.5, 5.0]
    track = _edit(client_for(world.users["labeler"]), series, 0, 1, 1, "L3").json()
    assert track["labels"] == [None, "L3", None]  # nothing to copy: unlabeled slices


def test_the_first_edit_copies_the_model_and_each_labeler_has_a_track(world: World) -> None:
    series = world.objects["series_own"]  # model: L2 L3 L3
    first = _edit(client_for(world.users["labeler"]), series, 0, 0, 0, "L3")
    assert first.status_code == 200, first.content
    track = first.json()
    assert track["labels"] == ["L3", "L3", "L3"] and track["revision"] == 1
    assert track["author"] == "labeler_a" and track["scheme"] == "fine"
    second = _edit(client_for(labeler(world)), series, 0, 2, 2, "disc").json()
    assert second["labels"] == ["L2", "L3", "disc"] and second["id"] != track["id"]
    body = client_for(world.users["labeler"]).get(url(series)).json()
    assert body["mine"] == track["id"]
    assert {t["author"]: t["labels"] for t in body["tracks"]} == {
        "labeler_a": ["L3", "L3", "L3"],
        "labeler2_a": ["L2", "L3", "disc"],
    }


def test_a_stale_revision_is_a_conflict(world: World) -> None:
    series, client = world.objects["series_own"], client_for(world.users["labeler"])
    assert _edit(client, series, 0, 0, 1, None).status_code == 200
    stale = _edit(client, series, 0, 2, 2, "L4")
    assert stale.status_code == 409 and stale.json()["extra"]["revision"] == 1
    assert _edit(client, series, 1, 2, 2, "L4").json()["labels"] == [None, None, "L4"]


def test_bad_ranges_and_labels_are_refused(world: World) -> None:
    series, client = world.objects["series_own"], client_for(world.users["labeler"])
    for start, end, label, extra in [
        (2, 1, "L3", {}),
        (0, 3, "L3", {}),
        (0, 0, "Lumbar", {}),
        (0, 0, "L3", {"scheme": "chest"}),
        (0, 0, "l3", {}),
        (0, 0, "L3", {"scheme": "sagittal"}),
        (-1, 0, "L3", {}),
    ]:
        response = _edit(client, series, 0, start, end, label, **extra)
        assert response.status_code == 400, (start, end, label, extra)
    assert client.post(url(series, "edits"), {"start": 0}, format="json").status_code == 400
    assert client.get(url(series)).json()["tracks"] == []  # nothing half-written


def test_a_coarse_scheme_converts_the_track(world: World) -> None:
    series = factories.SeriesFactory(study=world.objects["study_own"], slice_count=4)
    classify(world, series, ["T11", "T12", "L1", "L2"])
    client = client_for(world.users["labeler"])
    track = _edit(client, series, 0, 0, 0, "T13", scheme="chest").json()
    assert track["scheme"] == "chest" and track["labels"] == ["T13", "T12", "Lumbar", "Lumbar"]


def test_undo_restores_every_earlier_state_exactly(world: World) -> None:
    series = factories.SeriesFactory(study=world.objects["study_own"], slice_count=6)
    classify(world, series, ["T12", "T12", "L1", "L1", "L2", "L2"])
    client = client_for(world.users["labeler"])
    states = [(["T12", "T12", "L1", "L1", "L2", "L2"], "fine")]  # the copy of the model
    steps = [
        (0, 2, "T12", {}),
        (3, 3, None, {}),
        (1, 4, "Lumbar", {"scheme": "chest"}),  # converts the whole track
        (5, 5, "disc", {}),
        (0, 0, "T13", {"scheme": "fine"}),  # back to fine: "Lumbar" cannot be said there
    ]
    for revision, (start, end, label, extra) in enumerate(steps):
        track = _edit(client, series, revision, start, end, label, **extra).json()
        states.append((track["labels"], track["scheme"]))
    assert states[3][0] == ["T12", "Lumbar", "Lumbar", "Lumbar", "Lumbar", "Lumbar"]
    assert states[5] == (["T13", None, None, None, None, "disc"], "fine")
    revision = len(steps)
    for expected in reversed(states[:-1]):
        response = client.post(url(series, "undo"), {"base_revision": revision}, format="json")
        assert response.status_code == 200, response.content
        revision += 1
        assert (response.json()["labels"], response.json()["scheme"]) == expected
        assert response.json()["revision"] == revision
    nothing = client.post(url(series, "undo"), {"base_revision": revision}, format="json")
    assert nothing.status_code == 409
    edits = LabelEdit.objects.filter(track__series=series).order_by("revision")
    assert [e.operation for e in edits] == ["assign"] * 5 + ["undo"] * 5  # history stays
    assert [e.undoes.revision for e in edits[5:]] == [5, 4, 3, 2, 1]


def test_undo_reverts_only_the_callers_edits_and_checks_the_revision(world: World) -> None:
    series = world.objects["series_own"]
    mine, theirs = client_for(world.users["labeler"]), client_for(labeler(world))
    _edit(mine, series, 0, 0, 0, "L1")
    _edit(theirs, series, 0, 1, 2, "L4")
    assert mine.post(url(series, "undo"), {"base_revision": 0}, format="json").status_code == 409
    undone = mine.post(url(series, "undo"), {"base_revision": 1}, format="json").json()
    assert undone["labels"] == ["L2", "L3", "L3"] and undone["revision"] == 2
    tracks = {t["author"]: t for t in mine.get(url(series)).json()["tracks"]}
    assert tracks["labeler2_a"]["labels"] == ["L2", "L4", "L4"]
    fresh = client_for(labeler(world, "labeler3_a"))
    assert fresh.post(url(series, "undo"), {"base_revision": 0}, format="json").status_code == 409


def test_history_lists_every_edit_and_decision(world: World) -> None:
    series = world.objects["series_own"]
    mine, theirs = client_for(world.users["labeler"]), client_for(labeler(world))
    _edit(mine, series, 0, 0, 1, "L3")
    _edit(theirs, series, 0, 2, 2, None)
    mine.post(url(series, "undo"), {"base_revision": 1}, format="json")
    mine.post(url(series, "submit"), {"comment": "done"}, format="json")
    track = mine.get(url(series)).json()["mine"]
    reviewer = client_for(world.users["reviewer"])
    reviewer.post(url(series, "review"), {"decision": "return", "track": track, "comment": "T12?"})
    history = client_for(world.users["analyst"]).get(url(series, "history")).json()
    assert history["series"] == series.pk
    rows = [
        (e["kind"], e["author"], e["operation"], e["start"], e["end"], e["label"], e["revision"])
        for e in history["entries"]
    ]
    assert rows == [
        ("edit", "labeler_a", "assign", 0, 1, "L3", 1),
        ("edit", "labeler2_a", "assign", 2, 2, None, 1),
        ("edit", "labeler_a", "undo", 0, 1, None, 2),
        ("review", "labeler_a", "submit", None, None, None, 2),
        ("review", "reviewer_a", "return", None, None, None, 2),
    ]
    entries = history["entries"]
    assert entries[2]["undoes"] == 1 and entries[4]["comment"] == "T12?"
    assert all(e["at"] and e["track"] for e in entries)


def test_every_write_is_audited(world: World) -> None:
    series, client = world.objects["series_own"], client_for(world.users["labeler"])
    _edit(client, series, 0, 0, 0, "L1")
    client.post(url(series, "undo"), {"base_revision": 1}, format="json")
    client.post(url(series, "submit"), {}, format="json")
    events = AuditEvent.objects.filter(action__startswith="labels_").order_by("id")
    assert [(e.action, e.detail.get("operation")) for e in events] == [
        ("labels_edited", "assign"),
        ("labels_edited", "undo"),
        ("labels_submitted", None),
    ]
    assert all(e.actor_username == "labeler_a" and e.project_id == world.project.pk for e in events)
    assert (
        events[0].detail["series"] == series.pk
        and events[0].object_type == "annotations.labeltrack"
    )

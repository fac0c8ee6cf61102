"""Submitting labels, verifying and returning them, the lock that verification
sets, the four-eyes rule, and CSRF/token auth on writes."""

from typing import Any

from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.annotations.helpers import labeler, url
from tests.conftest import World, client_for


def _post(client: Any, series: Any, action: str, body: dict[str, Any]) -> Any:
    return client.post(url(series, action), body, format="json")


def _labelled(world: World) -> tuple[Any, int]:
    """series_own with labeler_a's track (one edit), submitted."""
    series, client = world.objects["series_own"], client_for(world.users["labeler"])
    track = _post(
        client, series, "edits", {"base_revision": 0, "start": 0, "end": 0, "label": "L3"}
    )
    assert _post(client, series, "submit", {"comment": "please check"}).status_code == 200
    return series, track.json()["id"]


def test_submitting_without_edits_makes_the_model_result_the_track(world: World) -> None:
    series = world.objects["series_own"]
    client = client_for(world.users["labeler"])
    review = _post(client, series, "submit", {})
    assert review.status_code == 200, review.content
    body = client.get(url(series)).json()
    assert review.json()["status"] == "submitted" and review.json()["by"] == "labeler_a"
    assert review.json()["track"] == body["mine"]
    assert body["tracks"][0]["labels"] == ["L2", "L3", "L3"] and body["tracks"][0]["revision"] == 0


def test_verify_locks_the_series_and_return_reopens_it(world: World) -> None:
    series, track = _labelled(world)
    reviewer, client = client_for(world.users["reviewer"]), client_for(world.users["labeler"])
    verified = _post(reviewer, series, "review", {"decision": "verify", "track": track})
    assert verified.status_code == 200, verified.content
    assert verified.json()["status"] == "verified" and verified.json()["by"] == "reviewer_a"
    body = client.get(url(series)).json()
    assert body["locked"] is True and body["review"]["track"] == track
    edit = {"base_revision": 1, "start": 1, "end": 1, "label": "L4"}
    for action, payload in (("edits", edit), ("undo", {"base_revision": 1}), ("submit", {})):
        refused = _post(client, series, action, payload)
        assert refused.status_code == 423, action
        assert "locked" in refused.json()["message"]
    again = _post(reviewer, series, "review", {"decision": "verify", "track": track})
    assert again.status_code == 409
    returned = _post(
        reviewer, series, "review", {"decision": "return", "track": track, "comment": "L2 is L1"}
    )
    assert returned.json() | {"at": None} == {
        "status": "returned",
        "track": track,
        "comment": "L2 is L1",
        "by": "reviewer_a",
        "at": None,
    }
    assert client.get(url(series)).json()["locked"] is False
    assert _post(client, series, "edits", edit).status_code == 200


def test_return_needs_a_comment_and_something_to_return(world: World) -> None:
    series, track = _labelled(world)
    reviewer = client_for(world.users["reviewer"])
    blank = _post(
        reviewer, series, "review", {"decision": "return", "track": track, "comment": " "}
    )
    assert blank.status_code == 400
    body = {"decision": "return", "track": track, "comment": "why"}
    assert _post(reviewer, series, "review", body).status_code == 200
    assert _post(reviewer, series, "review", body).status_code == 409  # already returned


def test_a_reviewer_never_verifies_their_own_track(world: World) -> None:
    series = world.objects["series_own"]
    both = client_for(labeler(world, "both_a", "reviewer"))
    own = _post(both, series, "edits", {"base_revision": 0, "start": 0, "end": 0, "label": "L1"})
    for decision in ("verify", "return"):
        refused = _post(
            both,
            series,
            "review",
            {"decision": decision, "track": own.json()["id"], "comment": "x"},
        )
        assert refused.status_code == 403, decision
    _, other = _labelled(world)
    assert _post(both, series, "review", {"decision": "verify", "track": other}).status_code == 200


def test_decisions_name_a_track_of_the_series(world: World) -> None:
    _, track = _labelled(world)
    other_series = world.objects["series_other"]
    reviewer = client_for(world.users["reviewer"])
    wrong = _post(reviewer, other_series, "review", {"decision": "verify", "track": track})
    assert wrong.status_code == 400
    bad = _post(reviewer, other_series, "review", {"decision": "approve", "track": track})
    assert bad.status_code == 400
    unnamed = _post(reviewer, other_series, "review", {"decision": "verify", "track": None})
    assert unnamed.status_code == 400 and "submitted" in unnamed.json()["message"]


def test_without_a_track_the_decision_is_on_the_submitted_one(world: World) -> None:
    series, track = _labelled(world)
    verified = _post(client_for(world.users["reviewer"]), series, "review", {"decision": "verify"})
    assert verified.status_code == 200 and verified.json()["track"] == track


def test_labelers_cannot_review_and_reviewers_cannot_label(world: World) -> None:
    series, track = _labelled(world)
    labeler_client = client_for(labeler(world))
    decision = {"decision": "verify", "track": track}
    assert _post(labeler_client, series, "review", decision).status_code == 403
    reviewer = client_for(world.users["reviewer"])
    edit = {"base_revision": 0, "start": 0, "end": 0, "label": "L1"}
    assert _post(reviewer, series, "edits", edit).status_code == 403
    assert _post(client_for(world.users["analyst"]), series, "edits", edit).status_code == 403


def test_session_writes_need_csrf_and_tokens_do_not(world: World) -> None:
    series = world.objects["series_own"]
    edit = {"base_revision": 0, "start": 0, "end": 0, "label": "L1"}
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.users["labeler"])
    assert browser.get(url(series)).status_code == 200
    refused = browser.post(url(series, "edits"), edit, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    browser.cookies["csrftoken"] = "a" * 32
    accepted = browser.post(
        url(series, "edits"), edit, content_type="application/json", HTTP_X_CSRFTOKEN="a" * 32
    )
    assert accepted.status_code == 200, accepted.content
    script = APIClient()
    token = Token.objects.create(user=world.users["labeler"])
    script.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    edit["base_revision"] = 1
    assert script.post(url(series, "edits"), edit, format="json").status_code == 200

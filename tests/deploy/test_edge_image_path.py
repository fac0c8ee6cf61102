"""The edge's image path (deploy/docker/nginx): nginx serves frames and rendered
images straight from Orthanc once the platform's decision (imaging.proxy.
authorize_images) allowed the study, caches that decision for a few seconds per
credential and study, and logs every request; `ship_image_access_log` turns the
log into the same audit rows the platform's own proxy writes.

Real nginx (Debian's nginx-light, the deployed template), the live server and
the session's Orthanc."""

import io
import json
import time
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from audit.models import AuditAction, AuditEvent, LogCursor
from imaging import edge_access_log
from imaging.edge_access_log import ship_folder
from projects.models import ProjectMembership
from tests.conftest import PRINCIPALS, World
from tests.fixtures.nginx import GRANT_SECONDS, Edge, run_edge
from tests.fixtures.proxied_series import (
    FRAMES_ACCEPT,
    INSTANCE,
    INSTANCE_ACCEPT,
    SERIES,
    Stored,
    multipart_payloads,
)
from tests.imaging.test_dicomweb_proxy import MATRIX

EDGE_CASES = {case: (path, accept, own, other) for case, path, accept, own, other in MATRIX}
FRAME = INSTANCE + "/frames/1"


def credentials(world: World, principal: str, kind: str = "session") -> dict[str, str]:
    """What a browser (session cookie) or a script (token) sends; nothing for anonymous."""
    if principal == "anonymous":
        return {}
    user = world.users[principal]
    if kind == "token":
        return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def shipped_events() -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.IMAGE_ACCESSED, detail__served_by="edge")
    )


@pytest.mark.parametrize("case", ["frame", "rendered", "retrieve-instance"])
def test_edge_follows_the_permission_matrix_and_audits_every_request(
    world: World, stored: dict[str, Stored], edge: Edge, case: str
) -> None:
    path, accept, *expected_by_side = EDGE_CASES[case]
    sent = []
    for side, expected in zip(("own", "other"), expected_by_side, strict=True):
        for principal, status in zip(PRINCIPALS, map(int, expected.split()), strict=True):
            kind = "token" if principal in ("viewer", "reviewer") else "session"
            response = requests.get(
                edge.url + stored[side].url(path),
                headers={"Accept": accept, **credentials(world, principal, kind)},
                timeout=30,
            )
            assert response.status_code == status, (side, principal, response.text[:200])
            assert response.headers["Cache-Control"] == "private, no-store"
            if status == 200:
                assert len(response.content) > 1000
            else:
                assert response.headers["Content-Type"] == "application/json"
            sent.append((principal, side, status, len(response.content)))
    assert ship_folder(edge.logged(len(sent))).shipped == len(sent)
    events = sorted(shipped_events(), key=lambda e: e.pk)  # shipped in the log's order
    assert len(events) == len(sent)
    for (principal, side, status, size), event in zip(sent, events, strict=True):
        assert event.detail["status"] == status
        assert event.detail["study_uid"] == stored[side].study.study_instance_uid
        assert event.detail["resource"] in ("frames", "instance_rendered", "instance")
        if principal == "anonymous":
            assert (event.actor_id, event.detail["outcome"]) == (None, "unauthenticated")
        else:
            assert event.actor_id == world.users[principal].pk
        if status == 200:
            assert event.detail["outcome"] == "ok"
            assert event.detail["bytes"] == size
            assert event.object_id == str(stored[side].study.pk)
            assert event.project_id == world.project.pk
        elif status == 403:
            assert event.detail["outcome"] == "denied"
        elif status == 404:
            assert event.detail["outcome"] == "not_found"


def test_a_permitted_study_in_the_path_opens_no_other_studys_images(
    world: World, stored: dict[str, Stored], edge: Edge
) -> None:
    # The decision is per study UID; the image store must not serve another
    # study's series under it (labeler_a may view "own", not "other").
    own, other = stored["own"], stored["other"]
    mixed = (
        f"/dicomweb/studies/{own.study.study_instance_uid}/series/{other.series_uid}"
        f"/instances/{other.sop_uids[0]}/frames/1"
    )
    headers = {"Accept": FRAMES_ACCEPT, **credentials(world, "labeler")}
    assert requests.get(edge.url + mixed, headers=headers, timeout=30).status_code == 404
    assert requests.get(edge.url + other.url(FRAME), headers=headers, timeout=30).status_code == 404
    assert requests.get(edge.url + own.url(FRAME), headers=headers, timeout=30).status_code == 200


def test_edge_frame_is_orthancs_frame_without_its_headers(
    world: World, stored: dict[str, Stored], edge: Edge, orthanc_server: Any
) -> None:
    own = stored["own"]
    response = requests.get(
        edge.url + own.url(FRAME, sop_index=2),
        headers={"Accept": FRAMES_ACCEPT, **credentials(world, "labeler")},
        timeout=30,
    )
    assert response.status_code == 200
    [(part_headers, frame)] = multipart_payloads(response.headers["Content-Type"], response.content)
    assert frame == own.pixel_data[2]
    port = orthanc_server.url.rsplit(":", 1)[1]
    assert port.encode() not in part_headers  # Content-Location on the edge's host
    assert "Server" not in response.headers or "Orthanc" not in response.headers["Server"]
    assert "WWW-Authenticate" not in response.headers
    assert "Set-Cookie" not in response.headers


def test_edge_streams_a_whole_series(world: World, stored: dict[str, Stored], edge: Edge) -> None:
    own = stored["own"]
    url = edge.url + own.url(SERIES)
    headers = {"Accept": INSTANCE_ACCEPT, **credentials(world, "reviewer")}
    response = requests.get(url, headers=headers, timeout=30)
    assert response.status_code == 200
    parts = multipart_payloads(response.headers["Content-Type"], response.content)
    sops = {pydicom.dcmread(io.BytesIO(payload)).SOPInstanceUID for _, payload in parts}
    assert sops == set(own.sop_uids)
    ship_folder(edge.logged(1))
    [event] = shipped_events()
    assert event.detail["resource"] == "series"
    # nginx counts the body as sent, chunked framing included (Orthanc streams a series).
    overhead = event.detail["bytes"] - len(response.content)
    assert 0 <= overhead < 64 + len(response.content) // 1000


def test_decision_is_cached_per_credential_then_expires(
    world: World, stored: dict[str, Stored], edge: Edge
) -> None:
    own = stored["own"]
    viewer = credentials(world, "viewer", "token")
    labeler = credentials(world, "labeler", "token")

    def status(headers: dict[str, str], sop_index: int = 0) -> int:
        url = edge.url + own.url(FRAME, sop_index=sop_index)
        answer = requests.get(url, headers={"Accept": FRAMES_ACCEPT, **headers}, timeout=30)
        return answer.status_code

    assert status(viewer) == status(labeler) == 200
    ProjectMembership.objects.filter(user=world.users["viewer"]).delete()
    # Within the grant: the next slices of the series load without asking the platform.
    assert status(viewer, 1) == 200
    time.sleep(GRANT_SECONDS + 1.5)
    assert status(viewer, 2) == 404
    assert status(labeler, 2) == 200  # another credential's grant is its own
    assert ship_folder(edge.logged(5)).shipped == 5


def test_image_store_refusal_reaches_the_client_without_orthancs_body(
    world: World, stored: dict[str, Stored], edge: Edge
) -> None:
    # Orthanc 1.7 answers 400 to a bare octet-stream Accept for frames (STACK.md).
    url = edge.url + stored["own"].url(FRAME)
    headers = {"Accept": "application/octet-stream", **credentials(world, "viewer")}
    response = requests.get(url, headers=headers, timeout=30)
    assert response.status_code == 400
    assert response.json() == {"message": "The image store refused this request."}
    missing = requests.get(url.replace("/frames/1", "9/frames/1"), headers=headers, timeout=30)
    assert missing.status_code == 404
    ship_folder(edge.logged(2))
    outcomes = sorted(e.detail["outcome"] for e in shipped_events())
    assert outcomes == ["upstream_refused", "upstream_refused"]


def test_edge_refuses_other_methods_and_hides_the_decision_route(
    world: World, stored: dict[str, Stored], edge: Edge
) -> None:
    own = stored["own"]
    headers = credentials(world, "viewer", "token")
    posted = requests.post(edge.url + own.url(FRAME), headers=headers, data=b"x", timeout=30)
    assert posted.status_code == 405
    decision = f"{edge.url}/dicomweb/_authorize/studies/{own.study.study_instance_uid}"
    assert requests.get(decision, headers=headers, timeout=30).status_code == 404
    ship_folder(edge.logged(1))
    [event] = shipped_events()
    assert (event.detail["status"], event.detail["outcome"]) == (405, "method_not_allowed")


def test_wrong_image_store_credentials_are_a_502_without_orthancs_answer(
    world: World, stored: dict[str, Stored], live_server: Any, image_store: Any, tmp_path: Path
) -> None:
    with run_edge(live_server, image_store, tmp_path / "bad", password="wrong") as bad:
        response = requests.get(
            bad.url + stored["own"].url(FRAME),
            headers={"Accept": FRAMES_ACCEPT, **credentials(world, "viewer")},
            timeout=30,
        )
        assert response.status_code == 502
        assert response.json() == {"message": "The image store is unavailable."}
        ship_folder(bad.logged(1))
    [event] = shipped_events()
    assert event.detail["outcome"] == "upstream_error"


def test_metadata_still_goes_through_the_platform(
    world: World, stored: dict[str, Stored], edge: Edge
) -> None:
    own = stored["own"]
    url = edge.url + own.url(INSTANCE.rsplit("/instances", 1)[0] + "/metadata")
    response = requests.get(url, headers=credentials(world, "viewer"), timeout=30)
    assert response.status_code == 200 and json.loads(response.content)
    assert not any(edge.access_log.iterdir())
    event = _platform_event()
    assert event.detail["resource"] == "series_metadata" and "served_by" not in event.detail


def _platform_event(timeout_s: float = 5.0) -> AuditEvent:
    """The platform's proxy writes its row when the server closes the stream,
    just after the client has the answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        event = AuditEvent.objects.filter(action=AuditAction.IMAGE_ACCESSED).first()
        if event is not None or time.monotonic() > deadline:
            assert event is not None
            return event
        time.sleep(0.05)


# The decision route, through Django alone.


@pytest.mark.parametrize(
    ("principal", "status", "refusal"),
    [
        ("viewer", 200, None),
        ("analyst", 403, "denied"),
        ("outsider", 403, "not_found"),
        ("anonymous", 401, "unauthenticated"),
    ],
)
def test_decision_route_answers_with_the_proxys_rules(
    world: World, principal: str, status: int, refusal: str | None
) -> None:
    from tests import factories

    study = factories.StudyFactory(project=world.project, institution=world.inst_a)
    client = Client()
    if principal != "anonymous":
        client.force_login(world.users[principal])
    response = client.get(f"/dicomweb/_authorize/studies/{study.study_instance_uid}")
    assert response.status_code == status
    assert response.get("X-Image-Refusal") == refusal
    assert response.content == b""
    if status == 200:
        assert response["X-Image-Study"] == str(study.pk)
        assert response["X-Image-Project"] == str(world.project.pk)
        assert response["X-Image-Actor"] == str(world.users[principal].pk)
    assert not AuditEvent.objects.filter(action=AuditAction.IMAGE_ACCESSED).exists()


def test_bad_token_is_refused_by_the_decision_route(world: World) -> None:
    response = Client().get(
        "/dicomweb/_authorize/studies/1.2.3", headers={"Authorization": "Token nope"}
    )
    assert (response.status_code, response["X-Image-Refusal"]) == (401, "unauthenticated")


# Shipping the log.


def _line(**overrides: Any) -> bytes:
    entry = {
        "time": "1795687200.125",
        "actor": "7",
        "username": "viewer_a",
        "study": "3",
        "project": "5",
        "refusal": "",
        "method": "GET",
        "uri": "/dicomweb/studies/1.2/series/1.3/instances/1.4/frames/1",
        "status": "200",
        "bytes": "524288",
        "complete": "OK",
        "remote_addr": "10.0.0.9",
        "forwarded_for": "10.0.0.9",
        "user_agent": "Mozilla/5.0 <script>",
        "request_id": "abc",
    }
    return json.dumps({**entry, **overrides}).encode() + b"\n"


def test_shipping_is_exactly_once_across_partial_lines_and_hours(
    db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    older, newer = tmp_path / "2026-11-26T09.log", tmp_path / "2026-11-26T10.log"
    older.write_bytes(_line(request_id="1") + b"not json\n" + _line(request_id="2")[:40])
    first = ship_folder(tmp_path)
    assert (first.shipped, first.skipped) == (1, 1)
    with older.open("ab") as out:  # nginx finishes the line
        out.write(_line(request_id="2")[40:])
    assert ship_folder(tmp_path).shipped == 1
    assert ship_folder(tmp_path).shipped == 0
    # The next hour: the old file is shipped to its end, then deleted once nginx is done.
    with older.open("ab") as out:
        out.write(_line(request_id="3"))
    newer.write_bytes(_line(request_id="4", status="403", refusal="denied", bytes="61"))
    assert ship_folder(tmp_path).shipped == 2
    assert older.exists()  # written too recently to be sure nginx has let go
    monkeypatch.setattr(edge_access_log, "FINISHED_AFTER_S", 0)
    assert ship_folder(tmp_path).shipped == 0
    assert not older.exists() and newer.exists()
    assert not LogCursor.objects.filter(path=str(older)).exists()
    assert LogCursor.objects.get(path=str(newer)).offset == newer.stat().st_size
    events = sorted(shipped_events(), key=lambda e: e.detail["request_id"])
    assert [e.detail["request_id"] for e in events] == ["1", "2", "3", "4"]
    first_event, *_, denied = events
    assert first_event.detail == {
        "resource": "frames",
        "study_uid": "1.2",
        "series_uid": "1.3",
        "instance_uid": "1.4",
        "frames": "1",
        "method": "GET",
        "status": 200,
        "outcome": "ok",
        "bytes": 524288,
        "served_by": "edge",
        "request_id": "1",
    }
    assert (first_event.actor_id, first_event.object_id, first_event.project_id) == (7, "3", 5)
    assert first_event.at.isoformat() == "2026-11-26T10:00:00.125000+00:00"
    assert denied.detail["outcome"] == "denied"


def test_a_file_recreated_under_the_same_name_is_shipped_from_its_start(
    db: Any, tmp_path: Path
) -> None:
    log = tmp_path / "2026-11-26T10.log"
    log.write_bytes(_line(request_id="1") + _line(request_id="2"))
    assert ship_folder(tmp_path).shipped == 2
    log.unlink()
    log.write_bytes(_line(request_id="3"))
    assert ship_folder(tmp_path).shipped == 1
    assert sorted(e.detail["request_id"] for e in shipped_events()) == ["1", "2", "3"]


def test_ship_command_reports_what_it_shipped(db: Any, tmp_path: Path) -> None:
    (tmp_path / "2026-11-26T10.log").write_bytes(
        _line() + _line(uri="/dicomweb/../etc/passwd", status="404")
    )
    out = io.StringIO()
    call_command("ship_image_access_log", str(tmp_path), stdout=out)
    assert "shipped 2, skipped 0" in out.getvalue()
    odd = AuditEvent.objects.get(detail__resource="unknown")
    assert odd.detail["outcome"] == "upstream_refused"

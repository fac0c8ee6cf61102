"""The DICOMweb proxy at /dicomweb/: the permission matrix, byte-exact pixels,
filtered QIDO, no image store URL or header reaching the browser, audit rows,
and 502 when the image store fails. Runs against a real temporary Orthanc.

Matrix columns: project_admin investigator labeler reviewer analyst viewer
outsider anonymous. VIEW_IMAGES: investigator, labeler, reviewer, viewer;
default cross-institution roles: project_admin, reviewer, analyst. A study
visible without VIEW_IMAGES is 403; a study out of scope is 404."""

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pydicom
import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client, RequestFactory
from django.urls import resolve
from rest_framework.authtoken.models import Token

from audit.models import AuditAction, AuditEvent
from imaging.dicomweb import image_store as store_client
from tests.conftest import PRINCIPALS, World
from tests.fixtures.orthanc import load_runner
from tests.fixtures.proxied_series import (
    FRAMES_ACCEPT,
    INSTANCE,
    INSTANCE_ACCEPT,
    SERIES,
    STUDY,
    Stored,
    multipart_payloads,
)

# (case id, path, Accept, expected per principal for the study of A, then of B)
MATRIX = [
    ("qido-series", STUDY + "/series", "",
     "403 200 200 200 403 200 404 401",
     "403 404 404 200 403 404 404 401"),
    ("series-metadata", SERIES + "/metadata", "",
     "403 200 200 200 403 200 404 401",
     "403 404 404 200 403 404 404 401"),
    ("frame", INSTANCE + "/frames/1", FRAMES_ACCEPT,
     "403 200 200 200 403 200 404 401",
     "403 404 404 200 403 404 404 401"),
    ("rendered", INSTANCE + "/rendered", "image/jpeg",
     "403 200 200 200 403 200 404 401",
     "403 404 404 200 403 404 404 401"),
    ("retrieve-instance", INSTANCE, INSTANCE_ACCEPT,
     "403 200 200 200 403 200 404 401",
     "403 404 404 200 403 404 404 401"),
]  # fmt: skip

CASES = [
    pytest.param(
        path, accept, side, principal, int(expected.split()[i]), id=f"{case}-{side}-{principal}"
    )
    for case, path, accept, own, other in MATRIX
    for side, expected in (("own", own), ("other", other))
    for i, principal in enumerate(PRINCIPALS)
]


def browser(world: World, principal: str) -> Client:
    """A session-authenticated client enforcing CSRF like a browser (or anonymous)."""
    client = Client(enforce_csrf_checks=True)
    if principal != "anonymous":
        client.force_login(world.users[principal])
    return client


def get(client: Client, url: str, accept: str = "", **headers: str) -> Any:
    response = client.get(url, headers={"accept": accept, **headers} if accept else headers)
    response.body = response.getvalue()  # consumes the stream, which writes the audit row
    return response


def image_events() -> Any:
    return AuditEvent.objects.filter(action=AuditAction.IMAGE_ACCESSED)


@pytest.mark.parametrize(("path", "accept", "side", "principal", "expected"), CASES)
def test_permission_matrix(
    world: World,
    stored: dict[str, Stored],
    path: str,
    accept: str,
    side: str,
    principal: str,
    expected: int,
) -> None:
    response = get(browser(world, principal), stored[side].url(path), accept)
    assert response.status_code == expected, response.body[:300]
    event = image_events().get()
    assert event.detail["status"] == expected
    if expected == 200:
        assert len(response.body) > 0
        assert event.detail["bytes"] == len(response.body)


def test_frame_bytes_equal_direct_orthanc(world: World, stored: dict[str, Stored]) -> None:
    own = stored["own"]
    url = own.url(INSTANCE + "/frames/1", sop_index=2)
    proxied = get(browser(world, "viewer"), url, FRAMES_ACCEPT)
    direct = store_client().get(
        url.removeprefix("/dicomweb/"), headers={"Accept": FRAMES_ACCEPT}, stream=False
    )
    [(part_headers, proxied_frame)] = multipart_payloads(proxied["Content-Type"], proxied.body)
    [(_, direct_frame)] = multipart_payloads(direct.headers["Content-Type"], direct.content)
    assert proxied_frame == direct_frame == own.pixel_data[2]
    assert proxied["Content-Type"].startswith('multipart/related; type="application/octet-stream')
    # Orthanc's per-part Content-Location is built on the platform's host, not its own.
    assert b"testserver" in part_headers and b"127.0.0.1" not in part_headers


def test_series_retrieve_streams_every_instance(world: World, stored: dict[str, Stored]) -> None:
    own = stored["own"]
    response = get(browser(world, "labeler"), own.url(SERIES), INSTANCE_ACCEPT)
    assert response.status_code == 200 and response.streaming
    parts = multipart_payloads(response["Content-Type"], response.body)
    sops = {pydicom.dcmread(io.BytesIO(payload)).SOPInstanceUID for _, payload in parts}
    assert sops == set(own.sop_uids)


def test_head_sends_headers_only(world: World, stored: dict[str, Stored]) -> None:
    response = browser(world, "viewer").head(stored["own"].url(INSTANCE))
    assert response.status_code == 200
    assert response.content == b""
    assert int(response["Content-Length"]) > len(stored["own"].pixel_data[0])
    assert image_events().get().detail["bytes"] == 0


def test_client_leaving_mid_stream_is_audited_as_incomplete(
    world: World, stored: dict[str, Stored]
) -> None:
    # The view itself, as a WSGI server runs it: iterate, then close() when the browser goes.
    url = stored["own"].url(SERIES)
    request = RequestFactory().get(url, headers={"accept": INSTANCE_ACCEPT})
    request.user = world.users["viewer"]
    match = resolve(url)
    response = match.func(request, *match.args, **match.kwargs)
    first_chunk = next(iter(response))
    request_finished.disconnect(close_old_connections)  # keep the test's DB connection
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    event = image_events().get()
    assert len(first_chunk) > 0
    # The chunk handed to the server is not known to have left: it is not counted.
    assert (event.detail["outcome"], event.detail["bytes"]) == ("incomplete", 0)


def test_image_store_refusal_keeps_status_drops_body(
    world: World, stored: dict[str, Stored]
) -> None:
    # Orthanc 1.7 answers 400 to a bare octet-stream Accept for frames (STACK.md).
    url = stored["own"].url(INSTANCE + "/frames/1")
    response = get(browser(world, "viewer"), url, "application/octet-stream")
    assert response.status_code == 400
    assert json.loads(response.body) == {"message": "The image store refused this request."}
    assert image_events().get().detail["outcome"] == "upstream_refused"


def test_qido_studies_lists_only_permitted_studies(world: World, stored: dict[str, Stored]) -> None:
    def listed(principal: str, query: str = "") -> set[str]:
        response = get(browser(world, principal), f"/dicomweb/studies{query}")
        assert response.status_code == 200
        return {item["0020000D"]["Value"][0] for item in json.loads(response.body)}

    own, other = (stored[side].study.study_instance_uid for side in ("own", "other"))
    assert listed("viewer") == {own}
    assert listed("reviewer") == {own, other}
    assert listed("analyst") == set()
    assert listed("outsider") == set()
    assert len(listed("reviewer", "?limit=1")) == 1
    assert listed("reviewer", "?limit=1&offset=1") | listed("reviewer", "?limit=1") == {own, other}
    assert listed("reviewer", f"?StudyInstanceUID={other}") == {other}


def test_metadata_urls_point_at_the_proxy(
    world: World, stored: dict[str, Stored], orthanc_server: Any
) -> None:
    own = stored["own"]
    client = browser(world, "viewer")
    for path in (SERIES + "/metadata", "/dicomweb/studies/{study}/series"):
        text = get(client, own.url(path)).body.decode()
        port = str(orthanc_server.url.rsplit(":", 1)[1])
        assert port not in text and "127.0.0.1" not in text and "dicom-web" not in text
    metadata = json.loads(get(client, own.url(SERIES + "/metadata")).body)
    bulk_uris = [item["7FE00010"]["BulkDataURI"] for item in metadata]
    assert len(bulk_uris) == 4
    assert all(uri.startswith("http://testserver/dicomweb/studies/") for uri in bulk_uris)
    # The rewritten BulkDataURI works through the proxy.
    uri = next(u for u in bulk_uris if own.sop_uids[0] in u)
    bulk = get(client, uri.removeprefix("http://testserver"))
    assert bulk.status_code == 200
    [(_, payload)] = multipart_payloads(bulk["Content-Type"], bulk.body)
    assert payload == own.pixel_data[0]


def test_image_store_headers_never_reach_the_browser(
    world: World, stored: dict[str, Stored]
) -> None:
    response = get(
        browser(world, "viewer"), stored["own"].url(INSTANCE + "/rendered"), "image/jpeg"
    )
    assert response.status_code == 200 and response.body.startswith(b"\xff\xd8")
    for header in ("Server", "WWW-Authenticate", "Keep-Alive", "Connection", "Authorization"):
        assert header not in response
    assert response["Cache-Control"] == "private, no-store"


def test_series_of_another_study_is_not_found(world: World, stored: dict[str, Stored]) -> None:
    """A permitted study UID cannot be used to reach another study's series."""
    own, other = stored["own"], stored["other"]
    url = f"{own.url(STUDY)}/series/{other.series_uid}/metadata"
    response = get(browser(world, "viewer"), url)
    assert response.status_code == 404
    assert b"Orthanc" not in response.body and b"dicom-web" not in response.body


def test_query_parameters_cannot_widen_the_study(world: World, stored: dict[str, Stored]) -> None:
    """The query string goes upstream as is: the path's UIDs must still win."""
    own, other = stored["own"], stored["other"]
    queries = [
        f"/series?StudyInstanceUID={other.study.study_instance_uid}",
        f"/series?0020000D={other.study.study_instance_uid}",
        f"/series/{own.series_uid}/instances?SeriesInstanceUID={other.series_uid}",
        f"/metadata?StudyInstanceUID={other.study.study_instance_uid}",
    ]
    for query in queries:
        body = get(browser(world, "viewer"), own.url(STUDY) + query).body.decode()
        assert own.study.study_instance_uid in body, query
        assert other.study.study_instance_uid not in body and other.series_uid not in body, query


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_only_get_and_head_are_allowed(world: World, method: str) -> None:
    url = f"/dicomweb/studies/{world.objects['study_own'].study_instance_uid}/series"
    response = getattr(browser(world, "viewer"), method)(url)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert image_events().get().detail["outcome"] == "method_not_allowed"


@pytest.mark.parametrize(
    "path",
    [
        "studies/1.2.x/series",
        "studies/1..2/series",
        "studies/.1.2/series",
        "studies/" + "1." * 32 + "1/series",  # 65 characters
        "studies/1.2/series/1.3/instances/1.4/frames/0",
        "studies/1.2/series/1.3/instances/1.4/frames/1;2",
        "studies/1.2/unknown",
        "studies/1.2/series/",
        "studies/%2e%2e/series",
        "",
    ],
)
def test_malformed_or_unknown_paths_are_not_found(world: World, path: str) -> None:
    response = get(browser(world, "viewer"), f"/dicomweb/{path}")
    assert response.status_code == 404
    assert image_events().get().detail["status"] == 404


def test_token_authentication(world: World, stored: dict[str, Stored]) -> None:
    token = Token.objects.create(user=world.users["viewer"])
    url = stored["own"].url(INSTANCE + "/frames/1")
    ok = get(Client(), url, FRAMES_ACCEPT, authorization=f"Token {token.key}")
    assert ok.status_code == 200
    bad = get(Client(), url, FRAMES_ACCEPT, authorization="Token not-a-valid-token")
    assert bad.status_code == 401
    assert image_events().filter(actor_id=world.users["viewer"].pk).count() == 1


def test_audit_records_user_study_and_bytes(world: World, stored: dict[str, Stored]) -> None:
    own, other = stored["own"], stored["other"]
    frame = get(
        browser(world, "viewer"), own.url(INSTANCE + "/frames/1", sop_index=1), FRAMES_ACCEPT
    )
    get(browser(world, "analyst"), own.url(INSTANCE + "/frames/1"), FRAMES_ACCEPT)
    get(browser(world, "viewer"), other.url(INSTANCE + "/frames/1"), FRAMES_ACCEPT)

    ok, denied, hidden = image_events().order_by("id")
    assert (ok.actor_id, ok.object_type, ok.object_id) == (
        world.users["viewer"].pk,
        "imaging.study",
        str(own.study.pk),
    )
    assert ok.project_id == world.project.pk
    assert ok.detail == {
        "resource": "frames",
        "study_uid": own.study.study_instance_uid,
        "series_uid": own.series_uid,
        "instance_uid": own.sop_uids[1],
        "frames": "1",
        "method": "GET",
        "status": 200,
        "outcome": "ok",
        "bytes": len(frame.body),
    }
    assert len(frame.body) > len(own.pixel_data[1])
    assert (denied.actor_id, denied.object_id) == (world.users["analyst"].pk, str(own.study.pk))
    assert denied.detail["outcome"] == "denied" and denied.detail["bytes"] == 0
    # Out of scope: nothing about the study is recorded beyond the requested UID.
    assert (hidden.object_id, hidden.project_id, hidden.detail["outcome"]) == (
        "",
        None,
        "not_found",
    )


def test_image_store_down_is_bad_gateway(world: World, settings: Any) -> None:
    port = load_runner().free_port()
    settings.DICOMWEB_URL = f"http://127.0.0.1:{port}/dicom-web"
    url = f"/dicomweb/studies/{world.objects['study_own'].study_instance_uid}/series"
    response = get(browser(world, "viewer"), url)
    assert response.status_code == 502
    assert response.json() == {"message": "The image store is unavailable."}
    assert image_events().get().detail["outcome"] == "upstream_error"


class _FailingStore(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b'{"Details": "internal path /var/lib/orthanc", "OrthancError": "boom"}'
        self.send_response(500)
        self.send_header("Server", "Orthanc")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_store(settings: Any) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FailingStore)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.DICOMWEB_URL = f"http://127.0.0.1:{server.server_port}/dicom-web"
    yield
    server.shutdown()
    server.server_close()


def test_image_store_error_is_bad_gateway_without_details(
    world: World, failing_store: None
) -> None:
    url = f"/dicomweb/studies/{world.objects['study_own'].study_instance_uid}/series"
    response = get(browser(world, "viewer"), url)
    assert response.status_code == 502
    assert response.json() == {"message": "The image store is unavailable."}
    assert "Server" not in response


def test_one_query_for_the_permission_and_none_cached(
    world: World, stored: dict[str, Stored]
) -> None:
    """Per frame: the token, the permission (one query) and the audit row; the
    next request sees a membership removed in between."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    viewer = world.users["viewer"]
    token = Token.objects.create(user=viewer)
    url = stored["own"].url(INSTANCE + "/frames/1")
    client, auth = Client(), f"Token {token.key}"
    with CaptureQueriesContext(connection) as queries:
        assert get(client, url, FRAMES_ACCEPT, authorization=auth).status_code == 200
    tables = [q["sql"].split('"')[1] for q in queries.captured_queries]
    assert tables == ["authtoken_token", "imaging_study", "audit_auditevent"], tables
    viewer.memberships.filter(project=world.project).delete()
    assert get(client, url, FRAMES_ACCEPT, authorization=auth).status_code == 404

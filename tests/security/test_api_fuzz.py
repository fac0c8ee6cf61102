"""Schemathesis fuzzes every operation of the OpenAPI schema (/api/schema/,
drf-spectacular) in-process through the WSGI app, as a project admin who is
also staff, with a real Orthanc behind the upload and DICOMweb paths. Any 5xx
fails: bad input must be a clear 4xx."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from tests.conftest import World, client_for

pytestmark = pytest.mark.django_db

# Bounded so the whole schema runs in about a minute on two cores.
EXAMPLES = 10


@pytest.fixture
def admin_headers(world: World) -> dict[str, str]:
    admin = world.users["project_admin"]
    admin.is_staff = True
    admin.save()
    return {"Authorization": f"Token {Token.objects.create(user=admin).key}"}


@pytest.fixture
def api_schema(world: World, image_store: Any, admin_headers: dict[str, str]) -> Iterator[Any]:
    # As Django's test client does: the WSGI handler must not close the test's
    # connection (and its open transaction) after each request.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(
            "/api/schema/", get_wsgi_application(), headers=admin_headers
        )
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


def test_no_operation_answers_5xx(
    world: World, api_schema: Any, admin_headers: dict[str, str]
) -> None:
    # A plain loop over the operations: schemathesis' own pytest hooks do not
    # support pytest 9 yet.
    failures: list[str] = []
    calls: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]

    # Random ids mostly meet 404s: half of the cases use an id that exists.
    known_ids = sorted(
        {world.project.pk, world.inst_a.pk, *(obj.pk for obj in world.objects.values())}
    )

    for operation in operations:

        @given(case=operation.as_strategy(), real=st.booleans(), pick=st.sampled_from(known_ids))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases on every run: no flaky CI
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any, real: bool, pick: int) -> None:
            if real and case.path_parameters and "id" in case.path_parameters:
                case.path_parameters["id"] = pick
            response = case.call(headers=admin_headers)
            calls.append(f"{case.operation.label} {response.status_code}")
            if response.status_code >= 500:
                failures.append(
                    f"{case.operation.label} -> {response.status_code}: "
                    f"{case.as_curl_command()}\n{response.text[:500]}"
                )

        check()

    assert len(operations) > 40 and len(calls) >= len(operations)
    # The token and the known ids work: many operations got past their checks.
    ok = {call.rsplit(" ", 1)[0] for call in calls if call.endswith((" 200", " 201", " 204"))}
    print(len(operations), "operations", len(calls), "calls", len(ok), "answered 2xx")
    assert len(ok) > len(operations) // 3, sorted(ok)
    assert not failures, "\n\n".join(failures[:20])


@pytest.mark.parametrize(
    "body",  # raw JSON: the escapes reach the server as sent
    [
        r'{"name": "a", "slug": "nul", "institutions": ["A\u0000"]}',
        r'{"name": "a", "slug": "surrogate", "institutions": ["\ud800"]}',
    ],
)
def test_text_the_database_cannot_hold_is_a_400(world: World, body: str) -> None:
    """Found by the fuzzer: these reached the database driver and answered 500."""
    admin = world.users["project_admin"]
    admin.is_staff = True
    admin.save()
    client = client_for(admin)
    response = client.post("/api/v1/projects/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() in (
        {"detail": "Text must not contain NUL characters."},
        {"institutions": ["Invalid value."]},  # the surrogate: refused by DRF itself
    )
    assert client.get("/api/v1/studies/", {"patient_pseudonym": "x\x00"}).status_code < 500

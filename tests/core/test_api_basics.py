"""OpenAPI schema, docs, pagination, filtering and error shapes."""

from typing import Any

import yaml
from django.test import Client

from tests import factories
from tests.conftest import World, client_for


def test_openapi_schema_lists_the_api(db: Any) -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/v1/projects/",
        "/api/v1/studies/{id}/",
        "/api/v1/jobs/{id}/cancel/",
        "/api/v1/cohorts/{id}/refresh/",
        "/api/v1/memberships/",
    ):
        assert path in schema["paths"], path
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_swagger_docs_page_loads_under_csp(world: World) -> None:
    client = Client()
    client.force_login(world.users["viewer"])
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content.lower()
    assert b"<script>" not in response.content  # scripts come as files


def test_pagination_and_filtering(world: World) -> None:
    for _ in range(60):
        factories.StudyFactory(project=world.project, institution=world.inst_a, patient_sex="M")
    client = client_for(world.users["analyst"])
    first = client.get("/api/v1/studies/").json()
    assert first["count"] == 62 and len(first["results"]) == 50 and first["next"]
    men = client.get("/api/v1/studies/?patient_sex=M").json()
    assert men["count"] == 60
    other = client.get("/api/v1/studies/?institution=B").json()
    assert [s["id"] for s in other["results"]] == [world.objects["study_other"].pk]


def test_malformed_json_is_a_400(world: World) -> None:
    client = client_for(world.users["project_admin"])
    response = client.generic(
        "POST", "/api/v1/cohorts/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_invalid_filter_value_is_a_400(world: World) -> None:
    response = client_for(world.users["viewer"]).get("/api/v1/studies/?project=abc")
    assert response.status_code == 400
    assert "project" in response.json()

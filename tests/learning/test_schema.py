"""The learning endpoints are in the OpenAPI schema."""

from typing import Any

import yaml
from django.test import Client


def test_the_schema_documents_the_learning_endpoints(db: Any) -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    paths = yaml.safe_load(response.content)["paths"]
    assert "post" in paths["/api/v1/projects/{id}/datasets/"]
    assert (
        "text/csv"
        in paths["/api/v1/datasets/{id}/manifest.csv"]["get"]["responses"]["200"]["content"]
    )
    assert "400" in paths["/api/v1/projects/{id}/model/promote/"]["post"]["responses"]
    queue = paths["/api/v1/projects/{id}/review-queue/"]["get"]
    assert {p["name"] for p in queue["parameters"]} >= {"role", "limit"}

"""The label and CAM endpoints are in the OpenAPI schema the viewer codes against."""

from typing import Any

import yaml
from django.test import Client


def test_the_schema_documents_the_label_endpoints(db: Any) -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for action in ("", "edits/", "undo/", "history/", "submit/", "review/"):
        assert f"/api/v1/series/{{id}}/labels/{action}" in paths, action
    cam = paths["/api/v1/series-levels/{id}/cam/{slice_index}.png"]["get"]
    assert "image/png" in cam["responses"]["200"]["content"]
    edit = paths["/api/v1/series/{id}/labels/edits/"]["post"]
    assert {"409", "423"} <= set(edit["responses"])
    out = schema["components"]["schemas"]["SeriesLabelsOut"]["properties"]
    assert set(out) == {
        "series",
        "slice_count",
        "slice_sop_instance_uids",
        "slice_positions_mm",
        "model",
        "tracks",
        "mine",
        "review",
        "locked",
        "agreement",
        "permissions",
    }

"""The measurements list (scoped, filtered) and the analysts' exports: formats
parse back with the data dictionary and provenance, non-ok rows keep their
status and nulls, every download is audited."""

import csv
import io
import json
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.utils import timezone
from openpyxl import load_workbook

from analysis.bodycomp.export import COLUMNS
from annotations.models import ReviewStatus, SeriesReview
from audit.models import AuditAction, AuditEvent
from tests import factories
from tests.analysis.bodycomp_helpers import stored_measurements
from tests.conftest import World, client_for

PROVENANCE = ("model_name", "model_version", "method", "labels_verified_by",
              "labels_verified_at", "job_id", "created_at", "level_source")  # fmt: skip


@pytest.fixture
def measured(world: World) -> World:
    """Example rows for both centres; the own series' labels are verified, and
    the other centre's L3 could not be measured (missing height)."""
    own = world.objects["series_own"]
    stored_measurements(own)
    other = stored_measurements(world.objects["series_other"])
    other_l3 = next(m for m in other if m.level == "L3")
    other_l3.status, other_l3.issues, other_l3.smi_cm2_m2 = (
        "missing_height",
        ["missing_height"],
        None,
    )
    other_l3.save()
    track = factories.LabelTrackFactory(series=own, author=world.users["labeler"])
    SeriesReview.objects.create(
        series=own,
        status=ReviewStatus.VERIFIED,
        track=track,
        actor=world.users["reviewer"],
        at=timezone.now(),
    )
    return world


def _list(world: World, role: str, query: str = "") -> list[dict[str, Any]]:
    response = client_for(world.users[role]).get(f"/api/v1/measurements/?{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_list_is_scoped_to_the_institution_unless_cross_institution(measured: World) -> None:
    assert {r["institution"] for r in _list(measured, "analyst")} == {"A", "B"}
    assert {r["institution"] for r in _list(measured, "viewer")} == {"A"}
    assert _list(measured, "outsider") == []


def test_list_filters(measured: World) -> None:
    rows = _list(measured, "analyst", "level=L3&institution=B")
    assert [(r["level"], r["status"], r["smi_cm2_m2"]) for r in rows] == [
        ("L3", "missing_height", None)
    ]
    assert len(_list(measured, "analyst", "review_status=verified")) == 2
    assert len(_list(measured, "analyst", "review_status=open")) == 2
    assert len(_list(measured, "analyst", "sex=F&age_band=60-69&model_version=1")) == 4
    assert _list(measured, "analyst", "age_band=80%2B") == []
    assert "masks" not in _list(measured, "analyst")[0]
    bad = client_for(measured.users["analyst"]).get("/api/v1/measurements/?sex=X")
    assert bad.status_code == 400 and "sex" in bad.json()["extra"]


def _export(world: World, fmt: str, query: str = "") -> Any:
    return client_for(world.users["analyst"]).get(
        f"/api/v1/measurements/export.{fmt}?project={world.project.pk}{query}"
    )


def _check_rows(rows: list[dict[str, Any]], world: World) -> None:
    assert len(rows) == 4
    assert all(name in rows[0] for name in PROVENANCE)
    by_key = {(r["institution"], r["level"]): r for r in rows}
    own = by_key[("A", "L3")]
    assert own["labels_verified_by"] == "reviewer_a" and own["labels_verified_at"]
    assert own["model_version"] == "1" and own["method"] == "threshold"
    assert float(own["smi_cm2_m2"]) == 91.003
    assert "prado2008_smi" not in (own["sarcopenia_low"] or "")
    assert "Prado CMM" in own["flags_json"]
    failed = by_key[("B", "L3")]
    assert failed["status"] == "missing_height" and failed["smi_cm2_m2"] in (None, "")
    assert not failed["labels_verified_by"]


def test_csv_export_parses_back_with_provenance(measured: World) -> None:
    response = _export(measured, "csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == [c.name for c in COLUMNS]
    _check_rows(rows, measured)


def test_csv_dictionary_lists_every_column(measured: World) -> None:
    response = _export(measured, "csv", "&dictionary=1")
    entries = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [e["column"] for e in entries] == [c.name for c in COLUMNS]
    assert all(e["description"] for e in entries)


def test_xlsx_export_has_a_dictionary_sheet(measured: World) -> None:
    response = _export(measured, "xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    assert book.sheetnames == ["measurements", "dictionary"]
    header, *values = list(book["measurements"].values)
    _check_rows([dict(zip(header, v, strict=True)) for v in values], measured)
    assert len(list(book["dictionary"].values)) == len(COLUMNS) + 1


def test_parquet_export_is_typed_with_dictionary_metadata(measured: World) -> None:
    response = _export(measured, "parquet")
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content))
    rows = table.to_pylist()
    _check_rows(rows, measured)
    assert str(table.schema.field("smi_cm2_m2").type) == "double"
    meta = json.loads(table.schema.metadata[b"data_dictionary"])
    assert [m["column"] for m in meta] == table.column_names


def test_downloads_are_audited_with_the_row_count(measured: World) -> None:
    _export(measured, "csv", "&level=L3")
    event = AuditEvent.objects.filter(action=AuditAction.DATA_DOWNLOADED).get()
    assert event.actor_username == "analyst_a" and event.project_id == measured.project.pk
    assert event.detail["rows"] == 2 and event.detail["format"] == "csv"
    assert event.detail["filters"]["level"] == "L3"


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("analyst", 200),
        ("viewer", 403),
        ("labeler", 403),
        ("project_admin", 403),
        ("outsider", 404),
    ],
)
def test_only_analysts_export(measured: World, role: str, expected: int) -> None:
    response = client_for(measured.users[role]).get(
        f"/api/v1/measurements/export.xlsx?project={measured.project.pk}"
    )
    assert response.status_code == expected
    audited = AuditEvent.objects.filter(action=AuditAction.DATA_DOWNLOADED).exists()
    assert audited == (expected == 200)


def test_unknown_format_is_404(measured: World) -> None:
    assert _export(measured, "pdf").status_code == 404


def test_token_auth_works_for_scripts(measured: World) -> None:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = Token.objects.create(user=measured.users["analyst"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = client.get("/api/v1/measurements/export.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["X-Row-Count"] == "4"
    refused = APIClient().get("/api/v1/measurements/export.csv", HTTP_ACCEPT="text/csv")
    assert refused.status_code == 401 and refused["Content-Type"] == "application/json"


def test_latest_keeps_only_the_newest_job_per_series_and_level(measured: World) -> None:
    stored_measurements(measured.objects["series_own"])
    assert len(_list(measured, "analyst", "institution=A")) == 4
    rows = _list(measured, "analyst", "institution=A&latest=1")
    assert len(rows) == 2 and len({r["job"] for r in rows}) == 1

"""Tissue masks in the viewer: reading them (image rights only), a labeler's
corrections as revisions with undo and history, strict validation of the
painted label maps, the re-measurement job and its result, review, and the
export's mask provenance."""

import base64
import csv
import io
import zlib
from typing import Any

import numpy as np
import pytest

from analysis.masks.codec import MAX_ENCODED_CHARS
from analysis.masks.models import MaskRevision
from analysis.models import BodyCompositionMeasurement, Job
from analysis.services import job_apply_report
from audit.models import AuditEvent
from tests.analysis.bodycomp_helpers import stored_measurements
from tests.conftest import World, client_for


@pytest.fixture
def l3(world: World) -> BodyCompositionMeasurement:
    rows = stored_measurements(world.objects["series_own"])
    return next(r for r in rows if r.level == "L3")


def _encode(labels: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(labels).tobytes())).decode()


def _painted(row: BodyCompositionMeasurement, value: int = 1) -> tuple[dict[str, Any], np.ndarray]:
    mask = row.masks[0]
    labels = np.frombuffer(zlib.decompress(base64.b64decode(mask["data"])), np.uint8)
    labels = labels.reshape(mask["shape"]).copy()
    labels[10:20, 10:30] = value  # a 10x20 brush stroke
    item = {"sop_instance_uid": mask["sop_instance_uid"], "shape": mask["shape"]}
    return {**item, "data": _encode(labels)}, labels


def _correct(world: World, row: Any, slices: list[Any], base: int = 0, role: str = "labeler"):
    return client_for(world.users[role]).post(
        f"/api/v1/measurements/{row.pk}/masks/",
        {"base_revision": base, "slices": slices},
        format="json",
    )


def test_viewer_reads_masks_of_the_series(world: World, l3: Any) -> None:
    response = client_for(world.users["viewer"]).get(
        f"/api/v1/series/{world.objects['series_own'].pk}/masks/"
    )
    assert response.status_code == 200
    body = response.json()
    by_level = {m["level"]: m for m in body["measurements"]}
    assert set(by_level) == {"L1", "L3"}
    assert by_level["L3"]["masks"] == l3.masks and by_level["L3"]["revision"] == 0
    assert by_level["L3"]["encoding"] == "zlib+base64:uint8-labelmap"
    assert body["permissions"] == {"label": False, "review": False, "view_images": True}
    # Analysts read results but never pixels: no masks either.
    refused = client_for(world.users["analyst"]).get(f"/api/v1/measurements/{l3.pk}/masks/")
    assert refused.status_code == 403 and "masks" not in refused.json()


def test_correction_is_a_revision_and_starts_a_remeasurement(world: World, l3: Any) -> None:
    item, labels = _painted(l3)
    response = _correct(world, l3, [item])
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["revision"], body["measured_revision"], body["mask_source"]) == (1, 0, "corrected")
    assert body["corrected_by"] == "labeler_a" and body["corrected_at"]
    l3.refresh_from_db()
    assert l3.masks[0]["data"] == item["data"]
    assert [r.operation for r in l3.revisions.all()] == ["model", "correct"]
    job = Job.objects.get(pk=body["remeasure"]["job"])
    assert job.job_type == "remeasure_body_composition" and job.state == "queued"
    assert job.parameters["revision"] == 1 and job.parameters["level"] == "L3"
    assert job.parameters["masks"] == l3.masks
    assert len(job.parameters["sop_instance_uids"]) == 3
    assert job.parameters["patient"] == {"height_m": 1.63, "weight_kg": 90.3, "sex": "F"}
    event = AuditEvent.objects.filter(detail__resource="masks").get()
    assert event.detail["operation"] == "correct" and event.actor_username == "labeler_a"
    # A second writer on the old revision is refused.
    assert _correct(world, l3, [item], base=0).status_code == 409


def _bad(row: Any, **change: Any) -> dict[str, Any]:
    item, _ = _painted(row)
    return {**item, **change}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"shape": [64, 64]}, "must be 128x128"),
        ({"data": "!!!not base64!!!"}, "not valid zlib+base64"),
        ({"data": base64.b64encode(b"not zlib").decode()}, "not valid zlib+base64"),
        ({"data": _encode(np.zeros(100, np.uint8))}, "does not hold 16384 pixels"),
        ({"data": _encode(np.full((128, 128), 5, np.uint8))}, "values must be 0 to 4"),
        ({"data": "A" * (MAX_ENCODED_CHARS + 4)}, "larger than"),
        ({"sop_instance_uid": "1.2.3"}, "has no mask"),
    ],
)
def test_bad_masks_are_refused(world: World, l3: Any, change: dict[str, Any], needle: str) -> None:
    response = _correct(world, l3, [_bad(l3, **change)])
    assert response.status_code == 400, response.content
    assert needle in str(response.json())
    l3.refresh_from_db()
    assert l3.mask_revision == 0 and not Job.objects.filter(job_type__startswith="remeasure")


def test_zlib_bomb_is_bounded(world: World, l3: Any) -> None:
    bomb = _encode(np.zeros(50_000_000, np.uint8))  # 50 MB inflated, ~50 KB sent
    response = _correct(world, l3, [_bad(l3, data=bomb)])
    assert response.status_code == 400 and "16384 pixels" in response.json()["message"]


def test_undo_restores_the_previous_masks_and_history_stays(world: World, l3: Any) -> None:
    model = l3.masks
    first, _ = _painted(l3, 1)
    assert _correct(world, l3, [first]).status_code == 200
    l3.refresh_from_db()
    second, _ = _painted(l3, 3)
    assert _correct(world, l3, [second], base=1).status_code == 200
    undo = client_for(world.users["labeler"]).post(
        f"/api/v1/measurements/{l3.pk}/masks/undo/", {"base_revision": 2}, format="json"
    )
    assert undo.status_code == 200 and undo.json()["masks"][0]["data"] == first["data"]
    undo = client_for(world.users["labeler"]).post(
        f"/api/v1/measurements/{l3.pk}/masks/undo/", {"base_revision": 3}, format="json"
    )
    body = undo.json()
    assert body["masks"] == model and body["mask_source"] == "model" and body["revision"] == 4
    again = client_for(world.users["labeler"]).post(
        f"/api/v1/measurements/{l3.pk}/masks/undo/", {"base_revision": 4}, format="json"
    )
    assert again.status_code == 409
    history = client_for(world.users["analyst"]).get(f"/api/v1/measurements/{l3.pk}/masks/history/")
    entries = history.json()["entries"]
    assert [(e["revision"], e["operation"], e["undoes"]) for e in entries] == [
        (0, "model", None), (1, "correct", None), (2, "correct", None),
        (3, "undo", 2), (4, "undo", 1),
    ]  # fmt: skip
    assert MaskRevision.objects.filter(measurement=l3).count() == 5


def _report(job_id: int, revision: int, muscle: float, status: str = "ok") -> None:
    level = {"level": "L3", "status": status, "issues": [] if status == "ok" else [status],
             "n_slices": 3, "n_slices_used": 3, "muscle_area_cm2": muscle,
             "imat_area_cm2": 1.0, "sat_area_cm2": 2.0, "vat_area_cm2": 3.0,
             "muscle_density_hu": 40.0, "smi_cm2_m2": muscle / 1.63**2, "vat_sat_ratio": 1.5,
             "bmi_kg_m2": 34.0, "flags": [], "slices": []}  # fmt: skip
    result = {"schema": "body-composition-remeasure/1", "revision": revision, "level": level}
    job_apply_report(job_id=job_id, state="succeeded", result=result)


def test_remeasurement_result_updates_the_row_unless_stale(world: World, l3: Any) -> None:
    item, _ = _painted(l3)
    first = _correct(world, l3, [item]).json()["remeasure"]["job"]
    second_item, _ = _painted(BodyCompositionMeasurement.objects.get(pk=l3.pk), 2)
    second = _correct(world, l3, [second_item], base=1).json()["remeasure"]["job"]
    _report(first, 1, 99.0)  # stale: the masks changed again
    l3.refresh_from_db()
    assert l3.measured_revision == 0 and l3.muscle_area_cm2 != 99.0
    assert Job.objects.get(pk=first).result["applied"] is False
    _report(second, 2, 120.5)
    l3.refresh_from_db()
    assert (l3.measured_revision, l3.muscle_area_cm2, l3.status) == (2, 120.5, "ok")


def test_submit_verify_locks_and_export_shows_provenance(world: World, l3: Any) -> None:
    item, _ = _painted(l3)
    job = _correct(world, l3, [item]).json()["remeasure"]["job"]
    base = f"/api/v1/measurements/{l3.pk}/masks/"
    labeler, reviewer = client_for(world.users["labeler"]), client_for(world.users["reviewer"])
    assert labeler.post(base + "submit/", {}, format="json").json()["review"]["status"] == (
        "submitted"
    )
    early = reviewer.post(base + "review/", {"decision": "verify"}, format="json")
    assert early.status_code == 409  # still being measured
    _report(job, 1, 111.0)
    no_reason = reviewer.post(base + "review/", {"decision": "return"}, format="json")
    assert no_reason.status_code == 400
    verified = reviewer.post(base + "review/", {"decision": "verify"}, format="json")
    assert verified.status_code == 200 and verified.json()["locked"] is True
    assert _correct(world, l3, [item], base=1).status_code == 423
    rows = csv.DictReader(
        io.StringIO(
            client_for(world.users["analyst"])
            .get(f"/api/v1/measurements/export.csv?project={world.project.pk}&level=L3")
            .content.decode()
        )
    )
    own = next(r for r in rows if r["measurement_id"] == str(l3.pk))
    assert (own["mask_source"], own["mask_revision"], own["muscle_area_cm2"]) == (
        "corrected", "1", "111.0",
    )  # fmt: skip
    assert own["mask_corrected_by"] == "labeler_a" and own["mask_verified_by"] == "reviewer_a"
    assert own["mask_review_status"] == "verified" and own["mask_verified_at"]
    returned = reviewer.post(base + "review/", {"decision": "return", "comment": "fix SAT"},
                             format="json")  # fmt: skip
    assert returned.json()["review"] == {**returned.json()["review"], "status": "returned",
                                         "comment": "fix SAT"}  # fmt: skip


def test_the_schema_documents_the_mask_endpoints(db: Any) -> None:
    import yaml
    from django.test import Client

    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    paths = yaml.safe_load(response.content)["paths"]
    assert "/api/v1/series/{id}/masks/" in paths
    for action in ("", "undo/", "history/", "submit/", "review/"):
        assert f"/api/v1/measurements/{{id}}/masks/{action}" in paths, action
    correct = paths["/api/v1/measurements/{id}/masks/"]["post"]
    assert {"400", "409", "423"} <= set(correct["responses"])
    assert "MaskCorrectIn" in str(correct["requestBody"])

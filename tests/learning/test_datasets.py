"""Dataset versions: freezing verified labels, immutability, new versions,
splits, refusals and the training manifest."""

from pathlib import Path

import pytest

from annotations import services as label_services
from audit.models import AuditAction, AuditEvent
from learning.datasets import split_of
from learning.models import DatasetSeries, DatasetVersion, Split
from ml_worker.training.data import read_manifest
from tests.conftest import World, client_for
from tests.learning.helpers import LEVELS, new_series, submitted, verified


def _freeze(world: World, status: int = 201, **body: object) -> dict:
    response = client_for(world.users["project_admin"]).post(
        f"/api/v1/projects/{world.project.pk}/datasets/", body, format="json"
    )
    assert response.status_code == status, response.content[:400]
    return response.json()


def test_freeze_copies_verified_labels_review_and_centre(world: World) -> None:
    own, other = world.objects["series_own"], world.objects["series_other"]
    verified(world, own)
    verified(world, other)
    submitted(world, new_series(world, world.inst_a))  # submitted, not verified: left out

    data = _freeze(world, description="first")

    assert data["number"] == 1 and data["series_count"] == 2
    assert data["summary"]["unverified"] == 1  # the submitted series
    row = DatasetSeries.objects.get(dataset_id=data["id"], series=own)
    assert row.labels == LEVELS and row.scheme == "fine"
    assert row.reviewer == "reviewer_a" and row.labeler == "labeler_a"
    assert row.verified_at is not None and row.institution_code == "A"
    assert row.sop_instance_uids == [f"2.25.{100 + i}" for i in range(len(LEVELS))]
    assert row.slice_positions_mm[:2] == [0.0, -2.0]
    assert DatasetSeries.objects.get(dataset_id=data["id"], series=other).institution_code == "B"
    assert AuditEvent.objects.filter(action=AuditAction.DATASET_FROZEN).count() == 1


def test_frozen_rows_refuse_changes(world: World) -> None:
    verified(world, world.objects["series_own"])
    dataset = DatasetVersion.objects.get(pk=_freeze(world)["id"])
    row = dataset.rows.get()
    row.labels = ["L5"] * len(LEVELS)
    with pytest.raises(PermissionError):
        row.save()
    with pytest.raises(PermissionError):
        row.delete()
    with pytest.raises(PermissionError):
        DatasetSeries.objects.filter(pk=row.pk).update(split=Split.TEST)
    with pytest.raises(PermissionError):
        DatasetSeries.objects.filter(dataset=dataset).delete()
    dataset.description = "changed"
    with pytest.raises(PermissionError):
        dataset.save()
    assert DatasetSeries.objects.get(pk=row.pk).labels == LEVELS


def test_refreeze_after_more_reviews_makes_a_new_version_and_keeps_the_old(world: World) -> None:
    own, other = world.objects["series_own"], world.objects["series_other"]
    verified(world, own)
    first = _freeze(world)
    # The verified track is returned and relabelled; another series gets verified.
    label_services.labels_review(
        series=own, user=world.users["reviewer"], decision="return", track_id=None, comment="T12?"
    )
    label_services.labels_edit(
        series=own, user=world.users["labeler"], base_revision=0, start=0, end=0, label="T11"
    )
    verified(world, other)

    second = _freeze(world)

    assert (first["number"], second["number"]) == (1, 2)
    assert (first["series_count"], second["series_count"]) == (1, 1)  # own is no longer verified
    old = DatasetSeries.objects.get(dataset_id=first["id"])
    assert old.series_id == own.pk and old.labels[0] == "T12"
    assert DatasetSeries.objects.get(dataset_id=second["id"]).series_id == other.pk
    assert first["content_sha256"] != second["content_sha256"]


def test_split_is_deterministic_and_holds_out_whole_centres(world: World) -> None:
    keys = [f"patient-{i}" for i in range(2000)]
    splits = [split_of(k, val_fraction=0.2, test_fraction=0.1) for k in keys]
    assert splits == [split_of(k, val_fraction=0.2, test_fraction=0.1) for k in keys]
    assert 0.07 < splits.count(Split.TEST) / len(keys) < 0.13
    assert 0.16 < splits.count(Split.VALIDATION) / len(keys) < 0.24

    series_a = [new_series(world, world.inst_a, f"P{i}") for i in range(6)]
    for series in [*series_a, world.objects["series_other"]]:
        verified(world, series)
    first = _freeze(world, held_out_institutions=["B"], val_fraction=0.3, test_fraction=0.3)
    second = _freeze(world, held_out_institutions=["B"], val_fraction=0.3, test_fraction=0.3)

    def splits_of(data: dict) -> dict[int, str]:
        rows = DatasetSeries.objects.filter(dataset_id=data["id"])
        return dict(rows.values_list("series_id", "split"))

    assert splits_of(first) == splits_of(second)
    assert splits_of(first)[world.objects["series_other"].pk] == Split.EXTERNAL
    assert all(splits_of(first)[s.pk] != Split.EXTERNAL for s in series_a)
    expected = {s.pk: split_of(f"P{i}", val_fraction=0.3, test_fraction=0.3) for i, s in
                enumerate(series_a)}  # fmt: skip
    assert {k: v for k, v in splits_of(first).items() if k in expected} == expected
    assert first["summary"]["series_per_centre"]["B"] == {"external": 1}


def test_empty_and_unverified_cohorts_are_refused(world: World) -> None:
    empty = _freeze(world, status=400, institutions=["A"], series=[999999])
    assert "empty" in empty["message"]
    unverified = _freeze(world, status=400)
    assert "None of the 2 selected series has verified labels" in unverified["message"]
    unknown = _freeze(world, status=400, held_out_institutions=["Z"])
    assert unknown["extra"]["institutions"] == ["Z"]
    assert not DatasetVersion.objects.exists()


def test_manifest_loads_with_the_training_reader(world: World, tmp_path: Path) -> None:
    verified(world, world.objects["series_own"])
    verified(world, world.objects["series_other"])
    data = _freeze(world, held_out_institutions=["B"])

    response = client_for(world.users["project_admin"]).get(data["manifest_url"])

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(response.content)
    records = read_manifest(manifest)
    assert len(records) == 2 * len(LEVELS)
    own_uid = world.objects["series_own"].series_instance_uid
    own = [r for r in records if r.case_id == own_uid]
    assert [r.label for r in own] == ["T12", None, "L1", "L2", "L3", "L3"]  # disc: no target
    assert {r.centre for r in records} == {"A", "B"}
    assert own[0].path == str(tmp_path / "dicom" / own_uid / "2.25.100.dcm")
    assert AuditEvent.objects.filter(
        action=AuditAction.DATA_DOWNLOADED, detail__export="dataset_manifest"
    ).exists()

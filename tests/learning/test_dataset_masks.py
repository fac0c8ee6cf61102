"""Verified tissue masks frozen with a dataset version: copied from the
verified revision, untouched by later corrections, guarded like the label
rows, and exported in ml_worker.bodycomp.data's manifest format."""

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from analysis.masks import services as mask_services
from analysis.masks.codec import encode_labels
from analysis.models import BodyCompositionMeasurement, SeriesLevels
from imaging.dicomweb import image_store as store_client
from imaging.models import Series
from learning.models import DatasetMask, DatasetSeries, Split
from ml_worker.bodycomp.data import manifest_samples
from tests import factories
from tests.analysis.bodycomp_helpers import stored_measurements
from tests.conftest import World, client_for
from tests.imaging.dicom_samples import ct_series_files
from tests.learning.helpers import new_series, verified


def _freeze(world: World, **body: object) -> dict[str, Any]:
    response = client_for(world.users["project_admin"]).post(
        f"/api/v1/projects/{world.project.pk}/datasets/", body, format="json"
    )
    assert response.status_code == 201, response.content[:400]
    return response.json()


def _verified_l3(world: World, series: Any) -> BodyCompositionMeasurement:
    """The example's L3 masks of `series`, submitted and verified unchanged."""
    l3 = next(r for r in stored_measurements(series) if r.level == "L3")
    mask_services.masks_submit(measurement=l3, user=world.users["labeler"])
    return mask_services.masks_review(
        measurement=l3, user=world.users["reviewer"], decision="verify"
    )


def _encode(labels: np.ndarray) -> str:
    return str(encode_labels(labels)["data"])


def test_freeze_copies_the_verified_masks_of_the_frozen_series(world: World) -> None:
    own = world.objects["series_own"]
    verified(world, own)
    l3 = _verified_l3(world, own)
    unlabelled = new_series(world, world.inst_a)  # verified masks, no verified labels
    _verified_l3(world, unlabelled)

    data = _freeze(world)

    masks = list(DatasetMask.objects.filter(dataset_id=data["id"]).order_by("id"))
    assert data["mask_count"] == len(l3.masks) == len(masks) > 0
    assert data["summary"]["masks"]["measurements"] == 1
    row = DatasetSeries.objects.get(dataset_id=data["id"], series=own)
    assert {m.series_id for m in masks} == {own.pk}  # the unlabelled series has no split
    assert [m.data for m in masks] == [item["data"] for item in l3.masks]
    assert [m.sop_instance_uid for m in masks] == [item["sop_instance_uid"] for item in l3.masks]
    first = masks[0]
    assert (first.level, first.revision, first.split) == ("L3", 0, row.split)
    assert (first.reviewer, first.corrector, first.institution_code) == ("reviewer_a", "", "A")
    assert first.verified_at == l3.mask_review_at and first.measurement_id == l3.pk


def test_a_version_may_hold_labels_without_masks(world: World) -> None:
    verified(world, world.objects["series_own"])
    stored_measurements(world.objects["series_own"])  # masks never reviewed

    data = _freeze(world)

    assert data["series_count"] == 1 and data["mask_count"] == 0
    assert not DatasetMask.objects.filter(dataset_id=data["id"]).exists()


def test_a_later_correction_leaves_the_frozen_masks_alone(world: World) -> None:
    own = world.objects["series_own"]
    verified(world, own)
    l3 = _verified_l3(world, own)
    first = _freeze(world)
    before = list(
        DatasetMask.objects.filter(dataset_id=first["id"]).order_by("id").values_list("data")
    )
    mask_services.masks_review(
        measurement=l3, user=world.users["reviewer"], decision="return", comment="SAT"
    )
    painted = {**l3.masks[0], "data": _encode(np.ones(l3.masks[0]["shape"], np.uint8))}
    mask_services.masks_correct(
        measurement=l3, user=world.users["labeler"], base_revision=0, slices=[painted]
    )
    l3.refresh_from_db()
    assert l3.mask_revision == 1 and l3.masks[0]["data"] == painted["data"]

    second = _freeze(world)

    after = list(
        DatasetMask.objects.filter(dataset_id=first["id"]).order_by("id").values_list("data")
    )
    assert after == before and before[0] != (painted["data"],)
    assert second["mask_count"] == 0  # the new revision is not verified
    assert first["content_sha256"] != second["content_sha256"]


def test_frozen_masks_refuse_changes(world: World) -> None:
    verified(world, world.objects["series_own"])
    _verified_l3(world, world.objects["series_own"])
    data = _freeze(world)
    mask = DatasetMask.objects.filter(dataset_id=data["id"]).first()
    assert mask is not None
    original = mask.data
    mask.data = "changed"
    with pytest.raises(PermissionError):
        mask.save()
    with pytest.raises(PermissionError):
        mask.delete()
    with pytest.raises(PermissionError):
        DatasetMask.objects.filter(pk=mask.pk).update(split=Split.TRAIN)
    with pytest.raises(PermissionError):
        DatasetMask.objects.filter(dataset_id=data["id"]).delete()
    assert DatasetMask.objects.get(pk=mask.pk).data == original


def _uploaded_series(world: World, tmp_path: Path) -> tuple[Series, list[str]]:
    files = ct_series_files(tmp_path, slices=4)
    payload = {"project": world.project.pk, "files": [SimpleUploadedFile(n, d) for n, d in files]}
    uploaded = client_for(world.users["investigator"]).post(
        "/api/v1/uploads/", payload, format="multipart"
    )
    assert uploaded.status_code == 201, uploaded.content[:300]
    series = Series.objects.get(study_id=uploaded.json()["studies"][0])
    uids = sorted(
        store_client().instance_uids(series.study.study_instance_uid, series.series_instance_uid)
    )
    return series, uids


def test_export_dataset_writes_masks_the_bodycomp_loader_reads(
    world: World, image_store: Any, tmp_path: Path
) -> None:
    series, uids = _uploaded_series(world, tmp_path)
    verified(world, series, ["L2", "disc", "L3", "L3"])
    SeriesLevels.objects.filter(series=series).update(slice_sop_instance_uids=uids)
    truth = [np.zeros((32, 32), np.uint8) for _ in range(2)]
    truth[0][4:12, 4:20], truth[1][10:30, 2:8] = 1, 3
    job = factories.JobFactory(
        project=world.project, institution=world.inst_a, series=series,
        job_type="measure_body_composition", state="succeeded",
    )  # fmt: skip
    BodyCompositionMeasurement.objects.create(
        job=job, series=series, level="L3", status="ok", method="threshold",
        model_name="bodycomp-threshold", model_version="1",
        masks=[{"sop_instance_uid": u, "shape": [32, 32], "data": _encode(t)}
               for u, t in zip(uids[2:], truth, strict=True)],
        mask_review_status="verified", mask_review_by=world.users["reviewer"],
        mask_review_at=timezone.now(),
    )  # fmt: skip
    _freeze(world, institutions=["A"], val_fraction=0, test_fraction=0)  # all train
    out = tmp_path / "export"

    args = ["--project", world.project.slug, "--number", "1", "--user", "project_admin_a"]
    call_command("export_dataset", *args, "--out", str(out))

    samples = manifest_samples(out / "masks_manifest.csv")
    assert len(samples) == 2 and {s.level for s in samples} == {"L3"}
    assert {s.centre for s in samples} == {"A"}
    assert sorted(int((s.labels > 0).sum()) for s in samples) == sorted(
        int((t > 0).sum()) for t in truth
    )
    with (out / "masks_manifest.csv").open() as handle:
        assert {r["split"] for r in csv.DictReader(handle)} == {"train"}
    assert manifest_samples(out / "masks_eval_manifest.csv") == []  # no test split


def test_held_out_centre_masks_stay_out_of_the_training_manifest(
    world: World, image_store: Any, tmp_path: Path
) -> None:
    series, uids = _uploaded_series(world, tmp_path)
    verified(world, series, ["L2", "disc", "L3", "L3"])
    SeriesLevels.objects.filter(series=series).update(slice_sop_instance_uids=uids)
    job = factories.JobFactory(
        project=world.project, institution=world.inst_a, series=series,
        job_type="measure_body_composition", state="succeeded",
    )  # fmt: skip
    BodyCompositionMeasurement.objects.create(
        job=job, series=series, level="L3", status="ok", method="threshold",
        model_name="bodycomp-threshold", model_version="1",
        masks=[{"sop_instance_uid": uids[2], "shape": [32, 32],
                "data": _encode(np.ones((32, 32), np.uint8))}],
        mask_review_status="verified", mask_review_by=world.users["reviewer"],
        mask_review_at=timezone.now(),
    )  # fmt: skip
    _freeze(world, institutions=["A"], held_out_institutions=["A"])
    out = tmp_path / "export"

    call_command(
        "export_dataset", "--project", world.project.slug, "--number", "1",
        "--user", "project_admin_a", "--out", str(out),
    )  # fmt: skip

    assert manifest_samples(out / "masks_manifest.csv") == []
    held_out = manifest_samples(out / "masks_eval_manifest.csv")
    assert len(held_out) == 1 and held_out[0].centre == "A"

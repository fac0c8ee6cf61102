"""export_dataset: the manifest and its instances, fetched from a real Orthanc,
load with the training CLI's reader and HU reader."""

import io
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from analysis.models import SeriesLevels
from imaging.dicomweb import image_store as store_client
from imaging.models import Series
from ml_worker.training.data import read_file_hu, read_manifest
from tests.conftest import World, client_for
from tests.imaging.dicom_samples import ct_series_files
from tests.learning.helpers import verified

LEVELS = ["L2", "disc", "L3", "L3"]


def test_export_dataset_fetches_the_listed_instances(
    world: World, image_store: Any, tmp_path: Path
) -> None:
    files = ct_series_files(tmp_path, slices=4)
    payload = {"project": world.project.pk, "files": [SimpleUploadedFile(n, d) for n, d in files]}
    uploaded = client_for(world.users["investigator"]).post(
        "/api/v1/uploads/", payload, format="multipart"
    )
    assert uploaded.status_code == 201, uploaded.content[:300]
    series = Series.objects.get(study_id=uploaded.json()["studies"][0])
    study_uid, series_uid = series.study.study_instance_uid, series.series_instance_uid
    uids = sorted(store_client().instance_uids(study_uid, series_uid))
    verified(world, series, LEVELS)
    SeriesLevels.objects.filter(series=series).update(slice_sop_instance_uids=uids)
    freeze = client_for(world.users["project_admin"]).post(
        f"/api/v1/projects/{world.project.pk}/datasets/", {"institutions": ["A"]}, format="json"
    )
    assert freeze.status_code == 201, freeze.content[:300]
    out = tmp_path / "export"

    args = ["--project", world.project.slug, "--number", "1", "--user", "project_admin_a"]
    call_command("export_dataset", *args, "--out", str(out))
    again = io.StringIO()
    call_command("export_dataset", *args, "--out", str(out), stdout=again)

    assert "0 instances fetched, 4 present" in again.getvalue()  # resumes, nothing refetched

    records = read_manifest(out / "manifest.csv")
    own = [r for r in records if r.case_id == series.series_instance_uid]
    assert [r.label for r in own] == ["L2", None, "L3", "L3"]
    assert read_file_hu(own[0]).shape == (32, 32)
    assert len(list((out / "dicom").rglob("*.dcm"))) == len(records)

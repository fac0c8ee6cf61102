"""Upload through the API into a real Orthanc: validation, de-identification,
duplicates, per-file report, nothing half-stored."""

import io
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from imaging import ingest
from imaging.dicomweb import image_store as store_client
from imaging.models import Series, Study
from ml_worker.synthetic import CANARY_PREFIX
from tests.conftest import World, client_for
from tests.imaging.dicom_samples import ct_series_files, reject_files, zip_bytes


def _upload(user: Any, project_id: int, files: list[tuple[str, bytes]]) -> Any:
    payload = {
        "project": project_id,
        "files": [SimpleUploadedFile(name, data) for name, data in files],
    }
    return client_for(user).post("/api/v1/uploads/", payload, format="multipart")


def _orthanc_instances(orthanc: Any) -> list[str]:
    return orthanc.session().get(f"{orthanc.url}/instances", timeout=30).json()


@pytest.fixture
def investigator(world: World) -> Any:
    return world.users["investigator"]


def test_upload_stores_deidentified_series_and_indexes_it(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    files = ct_series_files(tmp_path, slices=5)
    response = _upload(investigator, world.project.pk, files)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["counts"] == {"accepted": 5, "duplicate": 0, "quarantined": 0, "rejected": 0}
    study = Study.objects.get(pk=body["studies"][0])
    assert study.institution == world.inst_a and study.uploaded_by == investigator
    assert study.patient_pseudonym.startswith("P-") and study.patient_sex in ("F", "M")
    assert study.patient_height_m and study.patient_age_years
    series = Series.objects.get(study=study)
    assert series.slice_count == 5 and len(series.slice_positions_mm) == 5
    assert series.slice_positions_mm == sorted(series.slice_positions_mm, reverse=True)
    assert series.spacing_between_slices_mm == pytest.approx(2.5)
    assert series.rows == 32 and series.pixel_spacing_mm
    # Nothing identifying reached the store: every stored byte is canary-free.
    session = image_store.session()
    for orthanc_id in _orthanc_instances(image_store):
        data = session.get(f"{image_store.url}/instances/{orthanc_id}/file", timeout=30).content
        assert CANARY_PREFIX.encode() not in data
        ds = pydicom.dcmread(io.BytesIO(data))
        assert ds.PatientIdentityRemoved == "YES"
        assert {c.CodeValue for c in ds.DeidentificationMethodCodeSequence} >= {"113100", "113108"}
    assert AuditEvent.objects.filter(action="data_uploaded", actor_id=investigator.pk).exists()


def test_reupload_is_duplicate_and_changes_nothing(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    files = ct_series_files(tmp_path)
    first = _upload(investigator, world.project.pk, files).json()
    again = _upload(investigator, world.project.pk, files)
    assert again.status_code == 200
    assert again.json()["counts"]["duplicate"] == 4
    assert again.json()["studies"] == first["studies"]
    assert Study.objects.filter(project=world.project, uploaded_by=investigator).count() == 1
    assert Series.objects.get(study_id=first["studies"][0]).slice_count == 4
    assert len(_orthanc_instances(image_store)) == 4


def test_a_series_uploaded_in_parts_is_checked_file_by_file(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    # The second part's series is in the index: its files are checked by UID
    # (no series count first), so the overlap is a duplicate and the rest is new.
    files = ct_series_files(tmp_path, slices=6)
    first = _upload(investigator, world.project.pk, files[:3]).json()
    second = _upload(investigator, world.project.pk, files[2:]).json()
    assert second["counts"] == {"accepted": 3, "duplicate": 1, "quarantined": 0, "rejected": 0}
    assert second["studies"] == first["studies"]
    assert Series.objects.get(study_id=first["studies"][0]).slice_count == 6
    assert len(_orthanc_instances(image_store)) == 6
    # An index that outlived its store (a restore, a wiped store) stores them again.
    session = image_store.session()
    for orthanc_id in session.get(f"{image_store.url}/studies", timeout=30).json():
        session.delete(f"{image_store.url}/studies/{orthanc_id}", timeout=30)
    third = _upload(investigator, world.project.pk, files).json()
    assert third["counts"]["accepted"] == 6
    assert len(_orthanc_instances(image_store)) == 6


def test_pseudonyms_per_patient_and_project(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    world.other_project.memberships.create(user=investigator, role="investigator")
    visit1 = _upload(investigator, world.project.pk, ct_series_files(tmp_path, study=1)).json()
    visit2 = _upload(investigator, world.project.pk, ct_series_files(tmp_path, study=2)).json()
    elsewhere = _upload(investigator, world.other_project.pk, ct_series_files(tmp_path, study=1))
    first, second = (Study.objects.get(pk=v["studies"][0]) for v in (visit1, visit2))
    third = Study.objects.get(pk=elsewhere.json()["studies"][0])
    assert first.pk != second.pk
    assert first.patient_pseudonym == second.patient_pseudonym
    assert third.patient_pseudonym != first.patient_pseudonym
    assert third.study_instance_uid != first.study_instance_uid


def test_mixed_upload_reports_each_file(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    good = ct_series_files(tmp_path, slices=3)
    truncated = ("cut.dcm", good[0][1][: len(good[0][1]) // 2])
    rejects = reject_files(tmp_path)
    burned = ct_series_files(tmp_path, patient=3, slices=1)
    files = [
        *good,
        truncated,
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64),
        ("notes.txt", b"patient notes"),
        *rejects.items(),
    ]
    response = _upload(investigator, world.project.pk, files)
    assert response.status_code == 201
    rows = {row["name"]: row for row in response.json()["files"]}
    assert [rows[n]["status"] for n, _ in good] == ["accepted"] * 3
    assert rows["cut.dcm"]["status"] == "rejected" and rows["cut.dcm"]["message"]
    assert rows["photo.png"]["code"] == "not_dicom"
    assert rows["notes.txt"]["status"] == "rejected"
    assert rows["sc.dcm"]["status"] == "quarantined"
    assert rows["dose.dcm"]["status"] == "quarantined"
    assert len(_orthanc_instances(image_store)) == 3
    assert burned  # a burned-in CT is covered by the validation unit tests


def test_zip_upload_and_unsafe_zip(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    files = ct_series_files(tmp_path, slices=3)
    archive = zip_bytes([(f"study/{n}", d) for n, d in files] + [("__MACOSX/._x", b"junk")])
    ok = _upload(investigator, world.project.pk, [("scan.zip", archive)])
    assert ok.status_code == 201 and ok.json()["counts"]["accepted"] == 3
    evil = zip_bytes([("../../etc/passwd.dcm", files[0][1]), ("fine.dcm", files[1][1])])
    bad = _upload(investigator, world.project.pk, [("evil.zip", evil)])
    assert bad.status_code == 400
    assert bad.json()["files"] == [
        {
            "name": "evil.zip",
            "status": "rejected",
            "code": "zip_unsafe_path",
            "message": bad.json()["files"][0]["message"],
            "series_instance_uid": "",
        }
    ]
    assert len(_orthanc_instances(image_store)) == 3


@pytest.mark.parametrize("syntax", ["rle", "jpeg2000", "jpegls"])
def test_compressed_files_are_stored_as_they_came(
    world: World, image_store: Any, investigator: Any, tmp_path: Path, syntax: str
) -> None:
    files = ct_series_files(tmp_path, slices=2, transfer_syntax=syntax)
    sent_syntax = pydicom.dcmread(io.BytesIO(files[0][1])).file_meta.TransferSyntaxUID
    response = _upload(investigator, world.project.pk, files)
    assert response.status_code == 201, response.content
    orthanc_id = _orthanc_instances(image_store)[0]
    data = image_store.session().get(f"{image_store.url}/instances/{orthanc_id}/file", timeout=30)
    stored = pydicom.dcmread(io.BytesIO(data.content))
    assert stored.file_meta.TransferSyntaxUID == sent_syntax
    assert stored.pixel_array.shape == (32, 32)


def test_size_caps(
    world: World, image_store: Any, investigator: Any, tmp_path: Path, settings: Any
) -> None:
    files = ct_series_files(tmp_path, slices=2)
    settings.UPLOAD_MAX_FILE_BYTES = 1000
    small_cap = _upload(investigator, world.project.pk, files)
    assert small_cap.status_code == 400
    assert {r["code"] for r in small_cap.json()["files"]} == {"too_large"}
    settings.UPLOAD_MAX_REQUEST_BYTES = 2000
    too_big = _upload(investigator, world.project.pk, files)
    assert too_big.status_code == 413
    assert _orthanc_instances(image_store) == []


def test_failed_store_leaves_no_index_rows(
    world: World, investigator: Any, tmp_path: Path, settings: Any
) -> None:
    settings.DICOMWEB_URL = "http://127.0.0.1:9/dicom-web"
    response = _upload(investigator, world.project.pk, ct_series_files(tmp_path, slices=2))
    assert response.status_code == 400
    assert {r["code"] for r in response.json()["files"]} == {"store_failed"}
    assert not Study.objects.filter(uploaded_by=investigator).exists()


def test_only_investigators_upload(world: World, image_store: Any, tmp_path: Path) -> None:
    files = ct_series_files(tmp_path, slices=1)
    assert _upload(world.users["labeler"], world.project.pk, files).status_code == 403
    assert _upload(world.users["project_admin"], world.project.pk, files).status_code == 403
    assert _upload(world.users["outsider"], world.project.pk, files).status_code == 400
    assert _upload(None, world.project.pk, files).status_code == 401
    assert _orthanc_instances(image_store) == []


def test_study_of_another_institution_is_not_taken_over(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    from tests import factories

    files = ct_series_files(tmp_path, slices=1)
    first = _upload(investigator, world.project.pk, files).json()
    rival = factories.UserFactory(institution=world.inst_b)
    world.project.memberships.create(user=rival, role="investigator")
    other = ct_series_files(tmp_path, slices=2, series_number=2)
    response = _upload(rival, world.project.pk, other)
    assert response.status_code == 400
    assert {r["code"] for r in response.json()["files"]} == {"study_owned_elsewhere"}
    assert Study.objects.get(pk=first["studies"][0]).institution == world.inst_a
    assert store_client  # the platform's client is what the fixture configured


def test_patient_mismatch_caught_across_batches_of_one_upload(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    """Ingest prepares small batches first; one study still maps to one patient
    across all batches of an upload, before any index row exists."""
    from tests.imaging.test_upload_fuzz import set_value

    files = ct_series_files(tmp_path, slices=ingest.FIRST_BATCH_SIZE + 1)  # odd one: own batch
    name, data = files[-1]
    files[-1] = (name, set_value(data, 0x00100020, b"LO", b"OTHER-PATIENT-1 "))
    response = _upload(investigator, world.project.pk, files)
    assert response.status_code == 201
    rows = {row["name"]: row for row in response.json()["files"]}
    assert rows[name]["code"] == "study_patient_mismatch"
    assert [rows[n]["status"] for n, _ in files[:-1]] == ["accepted"] * (len(files) - 1)
    assert len(_orthanc_instances(image_store)) == len(files) - 1

"""STOW-style uploads: POST /api/v1/uploads/?project=N with a
multipart/related; type="application/dicom" body, split by imaging.multipart."""

import io
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.test import override_settings

from imaging.models import Study
from imaging.multipart import MalformedUpload, UploadTooLarge, split_related
from ml_worker.synthetic import CANARY_PREFIX
from tests.conftest import World, client_for
from tests.imaging.dicom_samples import ct_series_files, reject_files, related_body

BOUNDARY = "bNd-7f3c9a"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def _post(user: Any, project_id: Any, body: bytes, content_type: str = CONTENT_TYPE) -> Any:
    client = client_for(user)
    return client.post(f"/api/v1/uploads/?project={project_id}", body, content_type=content_type)


def _stored(orthanc: Any) -> list[str]:
    return orthanc.session().get(f"{orthanc.url}/instances", timeout=30).json()


@pytest.fixture
def investigator(world: World) -> Any:
    return world.users["investigator"]


def test_related_upload_stores_deidentified_series(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    files = ct_series_files(tmp_path, slices=4)
    body, content_type = related_body(files)
    response = _post(investigator, world.project.pk, body, content_type)
    assert response.status_code == 201, response.content
    report = response.json()
    assert report["counts"] == {"accepted": 4, "duplicate": 0, "quarantined": 0, "rejected": 0}
    assert [row["name"] for row in report["files"]] == [name for name, _ in files]
    study = Study.objects.get(pk=report["studies"][0])
    assert study.institution == world.inst_a and study.series.get().slice_count == 4
    session = image_store.session()
    for orthanc_id in _stored(image_store):
        data = session.get(f"{image_store.url}/instances/{orthanc_id}/file", timeout=30).content
        assert CANARY_PREFIX.encode() not in data
        assert pydicom.dcmread(io.BytesIO(data)).PatientIdentityRemoved == "YES"
    again = _post(investigator, world.project.pk, body, content_type)
    assert again.status_code == 200 and again.json()["counts"]["duplicate"] == 4


def test_unnamed_parts_are_numbered(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    body, content_type = related_body(ct_series_files(tmp_path, slices=2), named=False)
    response = _post(investigator, world.project.pk, body, content_type)
    assert response.status_code == 201
    assert [row["name"] for row in response.json()["files"]] == ["part-1", "part-2"]


def test_mixed_parts_get_a_report_each(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    good = ct_series_files(tmp_path, slices=2)
    files = [
        *good,
        ("cut.dcm", good[0][1][: len(good[0][1]) // 2]),
        ("notes.txt", b"patient notes"),
        *reject_files(tmp_path).items(),
    ]
    response = _post(investigator, world.project.pk, *related_body(files))
    assert response.status_code == 201
    rows = {row["name"]: row for row in response.json()["files"]}
    assert [rows[name]["status"] for name, _ in good] == ["accepted", "accepted"]
    assert rows["cut.dcm"]["status"] == "rejected" and rows["cut.dcm"]["message"]
    assert rows["notes.txt"]["code"] == "not_dicom"
    assert rows["sc.dcm"]["status"] == rows["dose.dcm"]["status"] == "quarantined"
    assert len(_stored(image_store)) == 2


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda body: body[: len(body) - 20], id="no_closing_boundary"),
        pytest.param(lambda body: body.replace(BOUNDARY.encode(), b"other", 1), id="no_opening"),
        pytest.param(lambda body: body.replace(b"\r\n\r\n", b"\r\n", 1), id="headers_unended"),
        pytest.param(
            lambda body: body.replace(b"Content-Type: application/dicom", b"garbage", 1),
            id="bad_header_line",
        ),
        pytest.param(lambda body: f"--{BOUNDARY}--\r\n".encode(), id="no_parts"),
    ],
)
def test_malformed_body_is_a_clear_400_and_stores_nothing(
    world: World, image_store: Any, investigator: Any, tmp_path: Path, mangle: Any
) -> None:
    body, _ = related_body(ct_series_files(tmp_path, slices=2), boundary=BOUNDARY)
    response = _post(investigator, world.project.pk, mangle(body))
    assert response.status_code == 400, response.content
    assert response.json()["message"]
    assert _stored(image_store) == []
    assert not Study.objects.filter(uploaded_by=investigator).exists()


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ('multipart/related; type="application/dicom"', 400),  # no boundary
        ('multipart/related; type="application/dicom"; boundary="bad\x01"', 400),
        ("multipart/related; boundary=x", 415),  # no type
        ('multipart/related; type="application/json"; boundary=x', 415),
    ],
)
def test_bad_content_type_parameters(
    world: World,
    image_store: Any,
    investigator: Any,
    tmp_path: Path,
    content_type: str,
    status: int,
) -> None:
    body, _ = related_body(ct_series_files(tmp_path, slices=1), boundary="x")
    response = _post(investigator, world.project.pk, body, content_type)
    assert response.status_code == status, response.content
    assert _stored(image_store) == []


def test_empty_body_is_a_clear_400(world: World, image_store: Any, investigator: Any) -> None:
    response = _post(investigator, world.project.pk, b"")
    assert response.status_code == 400 and "no body" in response.json()["message"]


def test_oversized_request_is_413_and_oversized_part_is_reported(
    world: World, image_store: Any, investigator: Any, tmp_path: Path
) -> None:
    files = ct_series_files(tmp_path, slices=2)
    body, content_type = related_body(files)
    with override_settings(UPLOAD_MAX_REQUEST_BYTES=len(body) - 1):
        too_big = _post(investigator, world.project.pk, body, content_type)
    assert too_big.status_code == 413 and too_big.json()["message"]
    big = ("big.dcm", files[0][1] + b"\0" * 64)
    body, content_type = related_body([big, files[1]])
    with override_settings(UPLOAD_MAX_FILE_BYTES=len(files[1][1])):
        response = _post(investigator, world.project.pk, body, content_type)
    assert response.status_code == 201
    rows = response.json()["files"]
    assert rows[0] == {
        "name": "big.dcm",
        "status": "rejected",
        "code": "too_large",
        "message": rows[0]["message"],
        "series_instance_uid": "",
    }
    assert rows[1]["status"] == "accepted" and len(_stored(image_store)) == 1


class _Unreadable(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def test_declared_length_over_cap_is_refused_before_reading(settings: Any) -> None:
    settings.UPLOAD_MAX_REQUEST_BYTES = 1000
    with pytest.raises(UploadTooLarge):
        split_related(_Unreadable(), BOUNDARY.encode(), 1001)


def test_body_shorter_than_declared_is_malformed(settings: Any) -> None:
    settings.UPLOAD_MAX_REQUEST_BYTES = 1 << 20
    body, _ = related_body([("a.dcm", b"x" * 100)], boundary=BOUNDARY)
    with pytest.raises(MalformedUpload):
        split_related(io.BytesIO(body), BOUNDARY.encode(), len(body) + 10)


def test_splitter_keeps_exact_bytes_and_allows_blank_preamble(settings: Any) -> None:
    settings.UPLOAD_MAX_REQUEST_BYTES = settings.UPLOAD_MAX_FILE_BYTES = 1 << 20
    payloads = [b"", b"\r\n--not-the-boundary\r\n", bytes(range(256)) * 4]
    body, _ = related_body([(f"f{i}", data) for i, data in enumerate(payloads)], boundary="b")
    body = b"\r\n" + body + b"\r\n"  # as dicomweb-client frames its bodies
    upload = split_related(io.BytesIO(body), b"b", len(body))
    assert [(item.name, item.data) for item in upload.items()] == [
        ("f0", payloads[0]),
        ("f1", payloads[1]),
        ("f2", payloads[2]),
    ]
    upload.close()


@pytest.mark.parametrize(
    ("disposition", "name"),
    [
        # What the upload page sends: RFC 5987, UTF-8, percent-encoded.
        ("attachment; filename*=UTF-8''Sch%C3%A4del%20%3Cb%3E%3B1.dcm", "Schädel <b>;1.dcm"),
        ('attachment; filename="plain name.dcm"', "plain name.dcm"),
        ("attachment; filename*=UTF-8''%FF%0Abad.dcm", "\ufffdbad.dcm"),  # no control chars
    ],
)
def test_part_names_from_content_disposition(settings: Any, disposition: str, name: str) -> None:
    settings.UPLOAD_MAX_REQUEST_BYTES = settings.UPLOAD_MAX_FILE_BYTES = 1 << 20
    body = (
        f"--b\r\nContent-Type: application/dicom\r\nContent-Disposition: {disposition}"
        "\r\n\r\ndata\r\n--b--\r\n"
    ).encode()
    upload = split_related(io.BytesIO(body), b"b", len(body))
    assert [item.name for item in upload.items()] == [name]
    upload.close()


@pytest.mark.parametrize(("before", "after"), [(b"text\r\n", b""), (b"", b"more parts?")])
def test_text_around_the_parts_is_malformed(settings: Any, before: bytes, after: bytes) -> None:
    """A preamble or epilogue with content would be a file silently ignored."""
    settings.UPLOAD_MAX_REQUEST_BYTES = settings.UPLOAD_MAX_FILE_BYTES = 1 << 20
    body, _ = related_body([("a", b"data")], boundary="b")
    body = before + body + after
    with pytest.raises(MalformedUpload):
        split_related(io.BytesIO(body), b"b", len(body))


def test_large_body_is_spooled_to_disk(settings: Any, monkeypatch: Any) -> None:
    from imaging import multipart

    monkeypatch.setattr(multipart, "SPOOL_BYTES", 100)
    settings.UPLOAD_MAX_REQUEST_BYTES = settings.UPLOAD_MAX_FILE_BYTES = 1 << 20
    body, _ = related_body([("a", b"a" * 300), ("b", b"b" * 5)], boundary="b")
    upload = split_related(io.BytesIO(body), b"b", len(body))
    assert upload.spool is not None
    assert [item.data for item in upload.items()] == [b"a" * 300, b"b" * 5]
    upload.close()


def test_permission_checked_before_the_body(world: World, image_store: Any, tmp_path: Path) -> None:
    body, content_type = related_body(ct_series_files(tmp_path, slices=1))
    assert _post(world.users["labeler"], world.project.pk, body, content_type).status_code == 403
    assert _post(world.users["outsider"], world.project.pk, body, content_type).status_code == 400
    assert _post(world.users["investigator"], "abc", body, content_type).status_code == 400
    assert _post(None, world.project.pk, body, content_type).status_code == 401
    assert _stored(image_store) == []

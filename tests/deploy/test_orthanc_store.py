"""The project-owned Orthanc: credentials required, DICOMweb round trip, own storage, clean stop.

Runs against a real temporary Orthanc (fixture ``orthanc_server`` from tests.fixtures.orthanc).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from tests.fixtures.orthanc import RUNNER_PATH, load_runner

ROWS, COLUMNS = 16, 12  # non-square, so swapped dimensions would show


def make_ct_slice(study_uid: str, series_uid: str, frame_uid: str, index: int) -> Dataset:
    """A minimal but valid CT Image Storage instance with int16 pixels in HU-like values."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    # A preamble makes dcmwrite (inside STOW) emit the 128-byte preamble and "DICM"; Orthanc stores
    # the bytes as sent, and without them dcmread in retrieve_series rejects what comes back.
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\x00" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.PatientID = "TEST-ORTHANC-0001"
    ds.PatientName = "Test^Phantom"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = index + 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [0.0, 0.0, float(index) * 2.5]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.8, 0.8]
    ds.SliceThickness = 2.5
    ds.KVP = 120
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ROWS
    ds.Columns = COLUMNS
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    # Signed values on both sides of zero catch sign or byte-order mistakes on the way back.
    values = [(-1000 + 37 * i + 500 * index) for i in range(ROWS * COLUMNS)]
    ds.PixelData = struct.pack(f"<{len(values)}h", *values)
    return ds


@dataclass(frozen=True)
class StoredSeries:
    study_uid: str
    series_uid: str
    instances: list[Dataset]
    stow_response: Dataset


@pytest.fixture(scope="module")
def client(orthanc_server: Any) -> DICOMwebClient:
    return DICOMwebClient(url=orthanc_server.dicomweb_url, session=orthanc_server.session())


@pytest.fixture(scope="module")
def stored_series(client: DICOMwebClient) -> StoredSeries:
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    instances = [make_ct_slice(study_uid, series_uid, frame_uid, i) for i in range(3)]
    response = client.store_instances(datasets=instances)
    return StoredSeries(study_uid, series_uid, instances, response)


def test_request_without_credentials_is_refused(orthanc_server: Any) -> None:
    for path in ("/system", "/dicom-web/studies", "/instances"):
        response = requests.get(orthanc_server.url + path, timeout=5)
        assert response.status_code == 401, path
    response = requests.post(orthanc_server.url + "/instances", data=b"DICM", timeout=5)
    assert response.status_code == 401


def test_wrong_password_is_refused(orthanc_server: Any) -> None:
    for auth in ((orthanc_server.username, "wrong"), ("someone-else", orthanc_server.password)):
        response = requests.get(orthanc_server.dicomweb_url + "/studies", auth=auth, timeout=5)
        assert response.status_code == 401


def test_credentials_are_accepted_and_dimse_is_off(orthanc_server: Any) -> None:
    response = requests.get(orthanc_server.url + "/system", auth=orthanc_server.auth, timeout=5)
    assert response.status_code == 200
    system = response.json()
    assert system["Name"] == "sarcopenia-platform"
    assert system["HttpPort"] == int(orthanc_server.url.rsplit(":", 1)[1])
    plugins = requests.get(orthanc_server.url + "/plugins", auth=orthanc_server.auth, timeout=5)
    assert "dicom-web" in plugins.json()


def _non_loopback_ipv4() -> str | None:
    # The address the default route would use; no packet is sent by a UDP connect().
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    return None if address.startswith(("127.", "0.")) else address


def test_non_loopback_client_is_refused_even_with_credentials(orthanc_server: Any) -> None:
    # Orthanc 1.10 cannot bind to 127.0.0.1 only; RemoteAccessAllowed=false must refuse others.
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    port = orthanc_server.url.rsplit(":", 1)[1]
    response = requests.get(f"http://{address}:{port}/system", auth=orthanc_server.auth, timeout=5)
    assert response.status_code in (401, 403)


def test_stow_rs_stores_ct_instances(stored_series: StoredSeries) -> None:
    response = stored_series.stow_response
    assert len(response.get("FailedSOPSequence", [])) == 0  # Orthanc sends it empty
    stored = {item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence}
    assert stored == {ds.SOPInstanceUID for ds in stored_series.instances}


def test_qido_finds_study_and_series(client: DICOMwebClient, stored_series: StoredSeries) -> None:
    studies = client.search_for_studies(
        search_filters={"StudyInstanceUID": stored_series.study_uid}
    )
    assert [Dataset.from_json(s).StudyInstanceUID for s in studies] == [stored_series.study_uid]
    series = client.search_for_series(study_instance_uid=stored_series.study_uid)
    found = Dataset.from_json(series[0])
    assert found.SeriesInstanceUID == stored_series.series_uid
    assert found.Modality == "CT"
    instances = client.search_for_instances(
        study_instance_uid=stored_series.study_uid, series_instance_uid=stored_series.series_uid
    )
    assert len(instances) == len(stored_series.instances)


def test_wado_rs_retrieve_series_returns_same_pixels(
    client: DICOMwebClient, stored_series: StoredSeries
) -> None:
    retrieved = client.retrieve_series(
        study_instance_uid=stored_series.study_uid, series_instance_uid=stored_series.series_uid
    )
    by_uid = {ds.SOPInstanceUID: ds for ds in retrieved}
    assert set(by_uid) == {ds.SOPInstanceUID for ds in stored_series.instances}
    for original in stored_series.instances:
        copy = by_uid[original.SOPInstanceUID]
        assert (copy.Rows, copy.Columns) == (ROWS, COLUMNS)
        assert copy.PixelRepresentation == 1
        assert copy.PixelData == original.PixelData


def test_wado_rs_frames_need_octet_stream(
    client: DICOMwebClient, stored_series: StoredSeries
) -> None:
    original = stored_series.instances[1]
    frames = client.retrieve_instance_frames(
        study_instance_uid=stored_series.study_uid,
        series_instance_uid=stored_series.series_uid,
        sop_instance_uid=original.SOPInstanceUID,
        frame_numbers=[1],
        # The default Accept (*/*) gets HTTP 400 from Orthanc 1.10 / DICOMweb 1.7.
        media_types=("application/octet-stream",),
    )
    assert frames == [original.PixelData]


def test_dicom_files_live_in_the_temporary_storage(
    orthanc_server: Any, stored_series: StoredSeries, tmp_path_factory: pytest.TempPathFactory
) -> None:
    storage = Path(orthanc_server.storage_dir)
    assert storage.is_relative_to(tmp_path_factory.getbasetemp().resolve())
    db_files = [p for p in (storage / "db").rglob("*") if p.is_file()]
    assert (storage / "db" / "index").is_file()
    # Orthanc names attachments by UUID in two levels of hex folders.
    attachments = [p for p in db_files if p.parent.parent.parent == storage / "db"]
    assert len(attachments) >= len(stored_series.instances)
    assert orthanc_server.config_path.parent == storage
    # The password reaches Orthanc through the environment, never the storage folder.
    password = orthanc_server.password.encode()
    assert all(password not in p.read_bytes() for p in storage.rglob("*.json"))


def test_stop_ends_the_process(tmp_path: Path) -> None:
    runner = load_runner()
    if runner.find_orthanc_binary() is None:
        pytest.skip("Orthanc binary not found")
    port = runner.free_port()
    orthanc = runner.start_orthanc(
        storage_dir=tmp_path / "store",
        http_port=port,
        username="stopper",
        password=secrets.token_urlsafe(16),
    )
    pid = orthanc.pid
    with orthanc:
        assert orthanc.is_running()
        assert (tmp_path / "store" / "db" / "index").is_file()
    assert not orthanc.is_running()
    assert orthanc.process.returncode == 0  # clean shutdown on SIGTERM, not a kill
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/system", timeout=2)


def test_start_fails_fast_on_a_taken_port(orthanc_server: Any, tmp_path: Path) -> None:
    runner = load_runner()
    port = int(orthanc_server.url.rsplit(":", 1)[1])
    with pytest.raises(runner.OrthancStartError, match="already in use"):
        runner.start_orthanc(storage_dir=tmp_path / "s", http_port=port, username="u", password="p")


def test_cli_refuses_to_start_without_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ORTHANC_PASSWORD"}
    result = subprocess.run(
        [sys.executable, str(RUNNER_PATH), "--storage", str(tmp_path / "s"), "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "ORTHANC_PASSWORD" in result.stderr
    assert not (tmp_path / "s").exists()


def test_cli_runs_in_foreground_until_sigterm(tmp_path: Path) -> None:
    runner = load_runner()
    if runner.find_orthanc_binary() is None:
        pytest.skip("Orthanc binary not found")
    port = runner.free_port()
    password = secrets.token_urlsafe(16)
    pidfile = tmp_path / "orthanc.pid"
    env = {**os.environ, "ORTHANC_USERNAME": "cli", "ORTHANC_PASSWORD": password}
    cli = subprocess.Popen(
        [
            sys.executable,
            str(RUNNER_PATH),
            "--storage",
            str(tmp_path / "s"),
            "--port",
            str(port),
            "--pidfile",
            str(pidfile),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cli.stdout is not None
        line = cli.stdout.readline()  # printed once Orthanc answers
        diagnostics = cli.stderr.read() if cli.poll() is not None else line
        assert f"http://127.0.0.1:{port}" in line, diagnostics
        assert password not in line
        assert pidfile.read_text().strip() == str(cli.pid)
        response = requests.get(
            f"http://127.0.0.1:{port}/system", auth=("cli", password), timeout=5
        )
        assert response.status_code == 200
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=30) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert not pidfile.exists()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/system", timeout=1)
        except requests.ConnectionError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("Orthanc still answers after the CLI stopped")

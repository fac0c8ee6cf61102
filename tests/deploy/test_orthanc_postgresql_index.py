"""The production Orthanc config (deploy/docker/orthanc/orthanc.json) actually run.

The Orthanc binary starts with a copy of the deploy file in which only what must differ on a
test host changes (storage paths, HTTP port); every ${VAR} stays in the file and Orthanc
expands it from its environment, as in the image. The index database and its role come from
the real init script (deploy/docker/postgres/init-orthanc-db.sh) in a temporary database,
dropped afterwards. A synthetic CT series goes in through STOW-RS, the index is looked up in
PostgreSQL, and everything is found again after a restart.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings as django_settings
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydicom.dataset import Dataset

from ml_worker.synthetic import make_ct_volume, make_patient, write_ct_series
from tests.fixtures.orthanc import load_runner

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONFIG = REPO / "deploy" / "docker" / "orthanc" / "orthanc.json"
INIT_DB_SCRIPT = REPO / "deploy" / "docker" / "postgres" / "init-orthanc-db.sh"
INDEX_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so")
# The only keys a test host changes: where files go and which port answers.
HOST_OVERRIDES = ("StorageDirectory", "IndexDirectory", "TemporaryDirectory", "HttpPort")
N_SLICES = 4
INSTANCE = 3  # Orthanc's ResourceType for instances in its Resources table
STUDY_UID_TAG = (0x0020, 0x000D)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class IndexDatabase:
    admin_conninfo: str  # the test server's superuser, for set-up, checks and clean-up
    host: str
    name: str
    user: str
    password: str = field(repr=False)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_conninfo, dbname=self.name, autocommit=True)


@dataclass
class Deployment:
    """Orthanc run from the derived deploy config; restart() stops it and starts it again."""

    config_path: Path
    root: Path
    env: dict[str, str] = field(repr=False)  # the ORTHANC_* variables the config names
    orthanc: Any = None

    def start(self) -> Any:
        config = json.loads(self.config_path.read_text(encoding="utf-8"))
        self.orthanc = load_runner().launch(
            self.config_path, http_port=config["HttpPort"],
            storage_dir=Path(config["StorageDirectory"]), log_dir=self.root / "logs",
            username=self.env["ORTHANC_USERNAME"], password=self.env["ORTHANC_PASSWORD"],
            env=self.env,  # Orthanc expands the config's ${VAR}s from these
        )  # fmt: skip
        return self.orthanc

    def restart(self) -> Any:
        assert self.orthanc.stop() == 0, self.orthanc.log_tail()  # a clean SIGTERM stop
        return self.start()

    def client(self) -> DICOMwebClient:
        return DICOMwebClient(self.orthanc.dicomweb_url, session=self.orthanc.session())


@dataclass(frozen=True)
class StoredSeries:
    study_uid: str
    series_uid: str
    instances: list[Dataset]


def derive_config(deploy_text: str, root: Path, http_port: int) -> dict[str, Any]:
    """The deploy config with HOST_OVERRIDES set for this host; ${VAR}s are kept as written."""
    config = json.loads(deploy_text)
    storage = root / "storage"
    config["StorageDirectory"] = config["IndexDirectory"] = str(storage)
    config["TemporaryDirectory"] = str(root / "tmp")
    config["HttpPort"] = http_port
    return config


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))


def _admin_conninfo() -> str:
    db = django_settings.DATABASES["default"]
    return make_conninfo(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        password=db["PASSWORD"] or None, dbname="postgres",
    )  # fmt: skip


def _frame(client: DICOMwebClient, series: StoredSeries, instance: Dataset) -> bytes:
    frames = client.retrieve_instance_frames(
        study_instance_uid=series.study_uid,
        series_instance_uid=series.series_uid,
        sop_instance_uid=instance.SOPInstanceUID,
        frame_numbers=[1],
        media_types=("application/octet-stream",),  # Orthanc answers 400 to */*
    )
    assert len(frames) == 1
    return frames[0]


def _column(conn: psycopg.Connection[Any], sql: str, *params: object) -> set[Any]:
    return {row[0] for row in conn.execute(sql, params)}


def _qido_study_uids(client: DICOMwebClient, study_uid: str) -> list[str]:
    found = client.search_for_studies(search_filters={"StudyInstanceUID": study_uid})
    return [Dataset.from_json(study).StudyInstanceUID for study in found]


@pytest.fixture(scope="module")
def index_database() -> Iterator[IndexDatabase]:
    """A database and role made by the deploy init script on the test server; dropped after."""
    if not INDEX_PLUGIN.exists():
        pytest.skip(f"{INDEX_PLUGIN} missing: run deploy/local/ensure_services.sh")
    if shutil.which("psql") is None:
        pytest.skip("psql not found (postgresql-client)")
    admin = _admin_conninfo()
    params = conninfo_to_dict(admin)
    if int(params.get("port") or 5432) != 5432:
        pytest.skip("the deploy config connects to PostgreSQL on port 5432")
    suffix = secrets.token_hex(4)
    db = IndexDatabase(
        admin_conninfo=admin, host=str(params["host"]), name=f"orthanc_pgindex_{suffix}",
        user=f"orthanc_pgindex_{suffix}", password=secrets.token_urlsafe(16),
    )  # fmt: skip
    env = {
        **os.environ,
        "PGHOST": db.host,
        "PGPORT": "5432",
        "PGPASSWORD": str(params.get("password") or ""),
        "POSTGRES_USER": str(params["user"]),
        "POSTGRES_DB": "postgres",
        "ORTHANC_DB_NAME": db.name,
        "ORTHANC_DB_USER": db.user,
        "ORTHANC_DB_PASSWORD": db.password,
    }
    made = subprocess.run(
        ["bash", str(INIT_DB_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    try:
        assert made.returncode == 0, made.stderr
        yield db
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{db.user}"')


@pytest.fixture(scope="module")
def deployment(
    index_database: IndexDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    runner = load_runner()
    if runner.find_orthanc_binary() is None:
        pytest.skip("Orthanc binary not found: apt-get install orthanc")
    root = tmp_path_factory.mktemp("orthanc-pgindex").resolve()
    config = derive_config(DEPLOY_CONFIG.read_text(encoding="utf-8"), root, runner.free_port())
    for directory in (config["StorageDirectory"], config["TemporaryDirectory"]):
        Path(directory).mkdir(parents=True, exist_ok=True)
    config_path = root / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    env = {
        "ORTHANC_NAME": "sarcopenia-pgindex-test",
        "ORTHANC_USERNAME": "platform",
        "ORTHANC_PASSWORD": secrets.token_urlsafe(24),  # URL-safe: Orthanc pastes it raw
        "ORTHANC_DB_HOST": index_database.host,
        "ORTHANC_DB_NAME": index_database.name,
        "ORTHANC_DB_USER": index_database.user,
        "ORTHANC_DB_PASSWORD": index_database.password,
    }
    deployment = Deployment(config_path=config_path, root=root, env=env)
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.orthanc.stop()


@pytest.fixture(scope="module")
def stored_series(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> StoredSeries:
    volume = make_ct_volume(n_slices=N_SLICES, rows=32, cols=24, seed=11)
    paths = write_ct_series(volume, tmp_path_factory.mktemp("pgindex-ct"), patient=make_patient(3))
    instances = [pydicom.dcmread(path) for path in paths]
    response = deployment.client().store_instances(datasets=instances)
    stored = {item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence}
    assert stored == {ds.SOPInstanceUID for ds in instances}
    assert len(response.get("FailedSOPSequence", [])) == 0
    first = instances[0]
    return StoredSeries(first.StudyInstanceUID, first.SeriesInstanceUID, instances)


def test_only_host_paths_and_port_differ_from_the_deploy_config(
    deployment: Deployment, index_database: IndexDatabase
) -> None:
    deploy_text = DEPLOY_CONFIG.read_text(encoding="utf-8")
    deploy = json.loads(deploy_text)
    derived_text = deployment.config_path.read_text(encoding="utf-8")
    derived = json.loads(derived_text)
    assert set(derived) == set(deploy)
    for key in deploy:
        if key not in HOST_OVERRIDES:
            assert derived[key] == deploy[key], key
    # Secrets stay ${VAR}s that Orthanc expands itself; none of them is written to disk.
    assert placeholders(derived_text) == placeholders(deploy_text)
    assert placeholders(deploy_text) == set(deployment.env)
    for secret in (deployment.env["ORTHANC_PASSWORD"], index_database.password):
        assert secret not in derived_text


def test_requests_without_valid_credentials_are_refused(deployment: Deployment) -> None:
    orthanc = deployment.orthanc
    for path in ("/system", "/dicom-web/studies", "/instances"):
        assert requests.get(orthanc.url + path, timeout=5).status_code == 401, path
    assert requests.post(orthanc.url + "/instances", data=b"DICM", timeout=5).status_code == 401
    wrong = (orthanc.username, "wrong-password")
    assert requests.get(orthanc.url + "/system", auth=wrong, timeout=5).status_code == 401


def test_orthanc_runs_the_postgresql_index_plugin(deployment: Deployment) -> None:
    session = deployment.orthanc.session()
    system = session.get(deployment.orthanc.url + "/system", timeout=5).json()
    assert system["Name"] == deployment.env["ORTHANC_NAME"]  # ${ORTHANC_NAME} was expanded
    assert "PostgreSQLIndex" in (system["DatabaseBackendPlugin"] or "")
    assert system["StorageAreaPlugin"] is None  # EnableStorage false: DICOM files on disk
    plugins = session.get(deployment.orthanc.url + "/plugins", timeout=5).json()
    assert {"dicom-web", "postgresql-index"} <= set(plugins)


def test_stow_rs_series_is_found_by_qido_and_indexed_in_postgresql(
    deployment: Deployment, stored_series: StoredSeries, index_database: IndexDatabase
) -> None:
    client = deployment.client()
    assert _qido_study_uids(client, stored_series.study_uid) == [stored_series.study_uid]
    instances = client.search_for_instances(
        study_instance_uid=stored_series.study_uid, series_instance_uid=stored_series.series_uid
    )
    assert len(instances) == N_SLICES

    orthanc_ids = (
        deployment.orthanc.session().get(deployment.orthanc.url + "/instances", timeout=5).json()
    )
    with index_database.connect() as conn:
        tables = dict(
            conn.execute("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'")
        )
        indexed = _column(conn, "SELECT publicid FROM resources WHERE resourcetype = %s", INSTANCE)
        study_uids = _column(
            conn,
            "SELECT value FROM dicomidentifiers WHERE taggroup = %s AND tagelement = %s",
            *STUDY_UID_TAG,
        )
    assert {"resources", "maindicomtags", "dicomidentifiers", "attachedfiles"} <= set(tables)
    # Created by the init script's unprivileged role, as in Compose and Kubernetes.
    assert tables["resources"] == index_database.user
    assert indexed == set(orthanc_ids) and len(indexed) == N_SLICES
    assert study_uids == {stored_series.study_uid}
    # No SQLite index next to the files: the index really is the PostgreSQL one.
    storage = deployment.orthanc.storage_dir
    assert not (storage / "index").exists()
    assert any(path.is_file() for path in storage.rglob("*"))


def test_study_and_pixels_survive_a_restart(
    deployment: Deployment, stored_series: StoredSeries
) -> None:
    before = deployment.orthanc.pid
    orthanc = deployment.restart()
    assert orthanc.pid != before
    client = deployment.client()
    assert _qido_study_uids(client, stored_series.study_uid) == [stored_series.study_uid]
    statistics = orthanc.session().get(orthanc.url + "/statistics", timeout=5).json()
    assert statistics["CountInstances"] == N_SLICES
    for instance in stored_series.instances:
        assert _frame(client, stored_series, instance) == instance.PixelData
    assert not (orthanc.storage_dir / "index").exists()

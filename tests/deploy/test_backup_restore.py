"""deploy/backup: back up a platform holding a study and a result, restore into
an EMPTY database and an EMPTY Orthanc, and find everything again through the
restored database and the restored Orthanc's DICOMweb."""

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dicomweb_client.api import DICOMwebClient
from django.conf import settings as django_settings

from analysis.models import SeriesLevels
from imaging.models import Series, Study
from tests.browser.phantom_study import ingest_phantom
from tests.conftest import World
from tests.fixtures.orthanc import load_runner

REPO = Path(__file__).resolve().parents[2]
BACKUP, RESTORE = REPO / "deploy/backup/backup.sh", REPO / "deploy/backup/restore.sh"
pytestmark = pytest.mark.django_db(transaction=True)


def _db_url(name: str) -> str:
    db = django_settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _run(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], env={**os.environ, **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _start(storage: Path) -> Any:
    runner = load_runner()
    if runner.find_orthanc_binary() is None:
        pytest.skip("Orthanc binary not found")
    return runner.start_orthanc(
        storage_dir=storage, http_port=runner.free_port(), username="backup-test",
        password=secrets.token_urlsafe(16), log_dir=storage.parent / f"{storage.name}-logs",
    )  # fmt: skip


@pytest.fixture
def empty_database() -> Iterator[str]:
    name = f"{django_settings.DATABASES['default']['NAME']}_restore"
    with psycopg.connect(_db_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(_db_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_backup_restores_into_an_empty_instance_with_every_study_and_result(
    world: World, settings: Any, tmp_path: Path, empty_database: str
) -> None:
    live = _start(tmp_path / "orthanc")
    with live:
        settings.DICOMWEB_URL = live.dicomweb_url
        settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD = live.auth
        phantom = ingest_phantom(
            project=world.project, user=world.users["investigator"], tmp=tmp_path, size=64,
            slice_mm=10.0,
        )  # fmt: skip
    # Orthanc stopped: its index and files are copied consistently (cold backup).
    studies = {s.study_instance_uid: s.pk for s in Study.objects.all()}
    uploaded = phantom.series.study.study_instance_uid
    assert uploaded in studies and len(studies) == 4  # the world's three plus the phantom

    source_db = _db_url(django_settings.DATABASES["default"]["NAME"])
    storage = str(live.storage_dir / "db")
    made = _run(
        BACKUP, str(tmp_path / "backups"), DATABASE_URL=source_db, ORTHANC_STORAGE_DIR=storage
    )
    assert made.returncode == 0, made.stderr
    backup_dir = Path(made.stdout.strip().splitlines()[-1])
    manifest = (backup_dir / "MANIFEST.sha256").read_text()
    for name in ("platform.dump", "orthanc-storage.tar.gz", "backup.json"):
        assert f"  {name}\n" in manifest

    # A damaged backup is refused before anything is touched.
    damaged = tmp_path / "damaged"
    subprocess.run(["cp", "-r", str(backup_dir), str(damaged)], check=True)
    with (damaged / "platform.dump").open("ab") as handle:
        handle.write(b"x")
    refused = _run(RESTORE, str(damaged), DATABASE_URL=_db_url(empty_database),
                   ORTHANC_STORAGE_DIR=str(tmp_path / "unused"))  # fmt: skip
    assert refused.returncode != 0 and "checksum mismatch" in refused.stderr

    restored_storage = tmp_path / "restored" / "db"
    env = {"DATABASE_URL": _db_url(empty_database), "ORTHANC_STORAGE_DIR": str(restored_storage)}
    done = _run(RESTORE, str(backup_dir), **env)
    assert done.returncode == 0, done.stderr
    # Restoring twice is refused: the targets are no longer empty.
    again = _run(RESTORE, str(backup_dir), **env)
    assert again.returncode != 0 and "not empty" in again.stderr

    # Table names come from the models, not from input.
    study_sql = f"SELECT id, study_instance_uid FROM {Study._meta.db_table}"  # noqa: S608
    result_sql = (
        f"SELECT s.series_instance_uid, r.slice_levels, r.slice_sop_instance_uids "  # noqa: S608
        f"FROM {SeriesLevels._meta.db_table} r JOIN {Series._meta.db_table} s "
        f"ON s.id = r.series_id WHERE r.id = %s"
    )
    with psycopg.connect(_db_url(empty_database)) as conn:
        rows = conn.execute(study_sql).fetchall()
        assert {uid: pk for pk, uid in rows} == studies
        series_uid, levels, uids = conn.execute(result_sql, [phantom.levels.pk]).fetchone()
    assert levels == phantom.levels.slice_levels and uids == phantom.levels.slice_sop_instance_uids

    with _start(restored_storage.parent) as restored:
        client = DICOMwebClient(restored.dicomweb_url, session=restored.session())
        found = {s["0020000D"]["Value"][0] for s in client.search_for_studies()}
        assert found == {uploaded}  # the world's other studies were index rows only
        metadata = client.retrieve_series_metadata(uploaded, series_uid)
        assert sorted(m["00080018"]["Value"][0] for m in metadata) == sorted(uids)

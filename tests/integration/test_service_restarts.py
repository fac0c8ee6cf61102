"""Jobs across restarts of Redis, Orthanc and PostgreSQL: work resumes after the
restart, or fails at once with a clear message; nothing is left half-written.
Every service restarted here is a temporary one started by the test."""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery import Celery, current_app

from analysis.models import Job, SeriesLevels
from analysis.services import QUEUE_DOWN
from ml_worker import registry
from ml_worker.model import ModelConfig, build_model, save_checkpoint
from tests.conftest import World, client_for
from tests.fixtures.orthanc import load_runner
from tests.integration.conftest import ROOT, Workers, start_worker, stop, wait_for
from tests.integration.services import TempPostgres, TempRedis
from tests.integration.test_classify_job import _sr_series, _start, _uploaded_series

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TempRedis]:
    """A temporary Redis for the platform and its workers (request it before worker_env)."""
    server = TempRedis(tmp_path / "redis")
    server.start()
    # Celery's conf first: monkeypatch must record (and later restore) the
    # real broker, not the temporary one.
    monkeypatch.setattr(current_app.conf, "broker_url", server.url)
    settings.CELERY_BROKER_URL = server.url
    monkeypatch.setattr(current_app, "_pool", None)  # connections were made for the old URL
    monkeypatch.setattr(current_app.amqp, "_producer_pool", None)
    yield server
    server.stop()
    current_app._pool = current_app.amqp._producer_pool = None


def _tiny_model(tmp_path: Path, worker_env: dict[str, str]) -> None:
    """As test_classify_job's model_registry, after the temporary broker is set."""
    checkpoint = save_checkpoint(
        tmp_path / "tiny.pt", build_model(ModelConfig.for_arch("tiny", input_size=64))
    )
    registry.register(tmp_path / "models", "spine-levels", checkpoint, metrics={})
    worker_env.update(
        MODEL_REGISTRY_DIR=str(tmp_path / "models"), MODEL_NAME="spine-levels",
        INFERENCE_BATCH_SIZE="1",
    )  # fmt: skip


def _post_job(world: World, **extra: Any) -> Any:
    return client_for(world.users["project_admin"]).post(
        "/api/v1/jobs/", {"project": world.project.pk, "job_type": "worker_info", **extra}
    )


def test_redis_restart_queued_jobs_survive_and_a_job_sent_while_down_fails_cleanly(
    world: World, broker: TempRedis, worker_env: dict[str, str], tmp_path: Path
) -> None:
    workers = Workers(worker_env, tmp_path)
    workers.start("default")
    try:
        queued = _post_job(world).json()["id"]  # no GPU worker yet: it waits in Redis
        broker.stop()
        down = _post_job(world)
        assert down.status_code == 503, down.content
        assert down.json()["message"] == QUEUE_DOWN
        failed = Job.objects.get(pk=down.json()["extra"]["job"])
        assert failed.state == "failed" and failed.error == QUEUE_DOWN and failed.finished_at
        broker.start()  # same port and append-only file
        workers.start("gpu")
        assert wait_for(queued, {"succeeded", "failed"}, timeout=120).state == "succeeded"
        after = _post_job(world)
        assert after.status_code == 201
        job = wait_for(after.json()["id"], {"succeeded", "failed"}, timeout=60)
        assert job.state == "succeeded", (job.error, workers.log("default")[-2000:])
        assert Job.objects.get(pk=failed.pk).state == "failed"  # never revived
    finally:
        for proc in workers.procs.values():
            stop(proc)


def test_orthanc_down_fails_the_job_with_a_message_and_work_resumes_after_restart(
    world: World,
    broker: TempRedis,
    settings: Any,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    _tiny_model(tmp_path, worker_env)
    runner = load_runner()
    if runner.find_orthanc_binary() is None:
        pytest.skip("Orthanc binary not found")
    port, password = runner.free_port(), secrets.token_urlsafe(16)

    def start_orthanc() -> Any:
        return runner.start_orthanc(
            storage_dir=tmp_path / "orthanc", http_port=port, username="fault",
            password=password, log_dir=tmp_path / "orthanc-logs",
        )  # fmt: skip

    orthanc = start_orthanc()
    settings.DICOMWEB_URL = orthanc.dicomweb_url
    settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD = orthanc.auth
    worker_env.update(
        DICOMWEB_URL=orthanc.dicomweb_url, DICOMWEB_USERNAME="fault", DICOMWEB_PASSWORD=password
    )
    workers = Workers(worker_env, tmp_path)
    try:
        series = _uploaded_series(world, tmp_path, slices=8)
        orthanc.stop()
        workers.start("default")
        workers.start("gpu")
        job = wait_for(_start(world, series)["id"], {"succeeded", "failed"}, timeout=120)
        assert job.state == "failed"
        assert "image store" in job.error.lower() and "Traceback" not in job.error, job.error
        assert not SeriesLevels.objects.filter(series=series).exists()
        orthanc = start_orthanc()  # same storage: the series is still there
        job = wait_for(_start(world, series)["id"], {"succeeded", "failed"}, timeout=120)
        assert job.state == "succeeded", (job.error, workers.log("gpu")[-3000:])
        assert SeriesLevels.objects.filter(series=series).count() == 1
        assert len(_sr_series(orthanc, series.study.study_instance_uid)) == 1
    finally:
        for proc in workers.procs.values():
            stop(proc)
        orthanc.stop()


SEED = """
import json
from accounts.models import Institution
from analysis.models import Job
from projects.models import ResearchProject
inst = Institution.objects.create(name="Fault Hospital", code="F")
project = ResearchProject.objects.create(name="Fault", slug="fault")
print(json.dumps([Job.objects.create(project=project, job_type="worker_info").pk for _ in "ab"]))
"""
STATE = "from analysis.models import Job; import json; print(json.dumps(list(Job.objects.order_by('pk').values_list('state', 'error', 'attempts'))))"  # noqa: E501


def test_postgres_restart_reports_wait_and_are_applied_once_it_is_back(
    broker: TempRedis, tmp_path: Path
) -> None:
    """The default worker applies the GPU workers' reports; with PostgreSQL down a
    report is retried, not lost, and lands once the database is back."""
    # Not under tmp_path: the server runs as the postgres user, who cannot enter it.
    parent = Path(tempfile.mkdtemp(prefix="pg-fault-"))
    parent.chmod(0o755)
    pg = TempPostgres(parent / "pg")
    pg.init()
    pg.start()
    try:
        with psycopg.connect(pg.url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE platform")
        env = {**_env(broker), "DATABASE_URL": pg.url.rsplit("/", 1)[0] + "/platform"}
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        seeded = subprocess.run(
            [*manage, "shell", "-c", SEED], cwd=ROOT, env=env, check=True, capture_output=True
        )
        first, second = json.loads(seeded.stdout.strip().splitlines()[-1])
        worker = start_worker("config", "default", env, tmp_path / "default.log")
        # Not made the current app: later tests send through the platform's own.
        producer = Celery(broker=broker.url, set_as_current=False)
        try:
            report = {"state": "failed", "error": "CUDA out of memory", "started": True}
            producer.send_task(
                "analysis.job_report", queue="default", kwargs={"job_id": first, **report}
            )
            _wait_states(manage, env, lambda s: s[0][0] == "failed")
            pg.stop()
            producer.send_task(
                "analysis.job_report", queue="default", kwargs={"job_id": second, **report}
            )
            time.sleep(3)  # the report meets the database down and is retried
            pg.start()
            states = _wait_states(manage, env, lambda s: s[1][0] == "failed", timeout=90)
            assert states == [["failed", "CUDA out of memory", 1]] * 2
            assert worker.poll() is None
            assert "Retry in" in (tmp_path / "default.log").read_text()
        finally:
            stop(worker)
    finally:
        pg.stop("immediate")
        shutil.rmtree(parent, ignore_errors=True)


def _env(broker: TempRedis) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": broker.url,
        "DB_CONN_MAX_AGE": "60",
    }


def _wait_states(manage: list[str], env: dict[str, str], done: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    states = None
    while time.monotonic() < deadline:
        result = subprocess.run(
            [*manage, "shell", "-c", STATE], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if result.returncode == 0:
            states = json.loads(result.stdout.strip().splitlines()[-1])
            if done(states):
                return states
        time.sleep(1)
    raise AssertionError(f"states stayed {states}")

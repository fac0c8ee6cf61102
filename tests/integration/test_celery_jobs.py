"""Jobs through real Celery workers on Redis: the platform's `default` worker
and ml_worker's `gpu` worker, as separate processes on the test database."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.db import connection

from analysis.models import Job
from tests.conftest import World, client_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _start_worker(app: str, queue: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "-Q",
        queue,
        "--pool",
        "solo",
        "-n",
        f"{queue}-test@%h",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "INFO",
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


@pytest.fixture
def worker_env() -> dict[str, str]:
    if connection.vendor != "postgresql":
        pytest.skip("workers share the test database over PostgreSQL")
    db = connection.settings_dict
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # the tests' own Redis database
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": settings.CELERY_BROKER_URL,
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    return env


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, Any]]:
    procs = {
        "default": _start_worker("config", "default", worker_env, tmp_path / "default.log"),
        "gpu": _start_worker("ml_worker.celery_app", "gpu", worker_env, tmp_path / "gpu.log"),
    }
    yield {"procs": procs, "logs": tmp_path}
    for proc in procs.values():
        proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_for(job_id: int, states: set[str], timeout: float = 90) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.state in states:
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} stayed {job.state}")


def test_job_runs_on_gpu_queue_and_result_is_stored_by_platform_task(
    world: World, workers: dict[str, Any]
) -> None:
    import torch

    client = client_for(world.users["project_admin"])
    response = client.post(
        "/api/v1/jobs/", {"project": world.project.pk, "job_type": "worker_info"}, format="json"
    )
    assert response.status_code == 201
    job = _wait_for(response.json()["id"], {"succeeded", "failed"})
    logs = "".join(p.read_text() for p in workers["logs"].glob("*.log"))
    assert job.state == "succeeded", (job.error, logs[-3000:])
    assert job.result["torch"] == torch.__version__
    assert job.result["device"] in {"cpu", "cuda"}
    assert job.attempts == 1 and job.progress == 1.0
    assert job.started_at <= job.finished_at
    assert "ml_worker.worker_info" in (workers["logs"] / "gpu.log").read_text()
    shown = client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert shown["state"] == "succeeded" and shown["result"]["torch"] == torch.__version__


def test_cancelled_job_stays_cancelled_when_a_worker_picks_it_up_later(
    world: World, worker_env: dict[str, str], tmp_path: Path
) -> None:
    """Cancel while no GPU worker runs; the task is still queued. A worker that
    starts afterwards runs it, but its reports cannot revive the job."""
    client = client_for(world.users["project_admin"])
    job_id = client.post(
        "/api/v1/jobs/", {"project": world.project.pk, "job_type": "worker_info"}, format="json"
    ).json()["id"]
    assert client.post(f"/api/v1/jobs/{job_id}/cancel/").json()["state"] == "cancelled"
    procs = [
        _start_worker("config", "default", worker_env, tmp_path / "d.log"),
        _start_worker("ml_worker.celery_app", "gpu", worker_env, tmp_path / "g.log"),
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "job_report" not in (tmp_path / "d.log").read_text():
            time.sleep(0.5)
        time.sleep(1.0)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
    job = Job.objects.get(pk=job_id)
    assert job.state == "cancelled" and job.result is None


def test_failure_report_through_the_default_worker(world: World, workers: dict[str, Any]) -> None:
    job = Job.objects.create(project=world.project, job_type="worker_info", task_id="manual")
    current_app.send_task(
        "analysis.job_report",
        queue="default",
        kwargs={"job_id": job.pk, "state": "failed", "error": "CUDA out of memory"},
    )
    job = _wait_for(job.pk, {"failed"})
    assert job.error == "CUDA out of memory"

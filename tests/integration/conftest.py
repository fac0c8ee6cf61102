"""Real Celery workers for integration tests: the platform's `default` worker
and ml_worker's `gpu` worker, as separate processes on the test database and
the tests' own Redis database."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from analysis.models import Job

ROOT = Path(__file__).resolve().parents[2]


def start_worker(app: str, queue: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
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
        f"{queue}-test-{time.monotonic_ns()}@%h",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "INFO",
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGQUIT) -> None:
    """Cold shutdown: tests never need a worker to finish what it holds."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
            "DICOMWEB_URL": settings.DICOMWEB_URL,
            "DICOMWEB_USERNAME": settings.DICOMWEB_USERNAME,
            "DICOMWEB_PASSWORD": settings.DICOMWEB_PASSWORD,
        }
    )
    return env


@dataclass
class Workers:
    env: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str) -> None:
        app = "config" if name == "default" else "ml_worker.celery_app"
        self.procs[name] = start_worker(app, name, self.env, self.logs / f"{name}.log")

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    running = Workers(worker_env, tmp_path)
    running.start("default")
    running.start("gpu")
    yield running
    for proc in running.procs.values():
        if proc.poll() is None:
            stop(proc)


def wait_for(job_id: int, states: set[str], timeout: float = 90) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.state in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stayed {job.state}")

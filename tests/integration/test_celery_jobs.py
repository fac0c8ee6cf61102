"""Jobs through real Celery workers on Redis: the platform's `default` worker
and ml_worker's `gpu` worker, as separate processes on the test database."""

import time
from pathlib import Path

import pytest
from celery import current_app

from analysis.models import Job
from tests.conftest import World, client_for
from tests.integration.conftest import Workers, start_worker, stop, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_job_runs_on_gpu_queue_and_result_is_stored_by_platform_task(
    world: World, workers: Workers
) -> None:
    import torch

    client = client_for(world.users["project_admin"])
    response = client.post(
        "/api/v1/jobs/", {"project": world.project.pk, "job_type": "worker_info"}, format="json"
    )
    assert response.status_code == 201
    job = wait_for(response.json()["id"], {"succeeded", "failed"})
    logs = workers.log("default") + workers.log("gpu")
    assert job.state == "succeeded", (job.error, logs[-3000:])
    assert job.result["torch"] == torch.__version__
    assert job.result["device"] in {"cpu", "cuda"}
    assert job.attempts == 1 and job.progress == 1.0
    assert job.started_at <= job.finished_at
    assert "ml_worker.worker_info" in workers.log("gpu")
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
        start_worker("config", "default", worker_env, tmp_path / "d.log"),
        start_worker("ml_worker.celery_app", "gpu", worker_env, tmp_path / "g.log"),
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "job_report" not in (tmp_path / "d.log").read_text():
            time.sleep(0.5)
        time.sleep(1.0)
    finally:
        for proc in procs:
            stop(proc)
    job = Job.objects.get(pk=job_id)
    assert job.state == "cancelled" and job.result is None


def test_failure_report_through_the_default_worker(world: World, workers: Workers) -> None:
    job = Job.objects.create(project=world.project, job_type="worker_info", task_id="manual")
    current_app.send_task(
        "analysis.job_report",
        queue="default",
        kwargs={"job_id": job.pk, "state": "failed", "error": "CUDA out of memory"},
    )
    job = wait_for(job.pk, {"failed"})
    assert job.error == "CUDA out of memory"

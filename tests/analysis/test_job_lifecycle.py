"""The job state machine and idempotent worker reports."""

from typing import Any

import pytest

from analysis.models import Job, JobState
from analysis.services import job_apply_report, job_cancel
from core.errors import Conflict
from tests import factories
from tests.conftest import World, client_for


@pytest.fixture
def job(db: Any) -> Job:
    return factories.JobFactory()


def test_running_progress_then_success(job: Job) -> None:
    job_apply_report(job_id=job.pk, state="running", progress=0.0, message="started", started=True)
    job_apply_report(job_id=job.pk, state="running", progress=0.4, message="slice 40/100")
    job.refresh_from_db()
    assert (job.state, job.progress, job.message, job.attempts) == (
        "running",
        0.4,
        "slice 40/100",
        1,
    )
    job_apply_report(job_id=job.pk, state="succeeded", result={"levels": 3})
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.progress == 1.0
    assert job.result == {"levels": 3}
    assert job.started_at <= job.finished_at


def test_reports_after_the_end_change_nothing(job: Job) -> None:
    job_apply_report(job_id=job.pk, state="succeeded", result={"first": True})
    assert job_apply_report(job_id=job.pk, state="succeeded", result={"second": True}) is None
    assert job_apply_report(job_id=job.pk, state="failed", error="late") is None
    job.refresh_from_db()
    assert (job.state, job.result, job.error) == ("succeeded", {"first": True}, "")


def test_redelivery_counts_attempts(job: Job) -> None:
    for _ in range(2):
        job_apply_report(job_id=job.pk, state="running", message="started", started=True)
    job.refresh_from_db()
    assert job.attempts == 2 and job.state == JobState.RUNNING


def test_failure_keeps_the_message(job: Job) -> None:
    job_apply_report(job_id=job.pk, state="failed", error="Series is not CT (modality MR)")
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error == "Series is not CT (modality MR)"
    assert job.finished_at is not None


def test_progress_is_clamped(job: Job) -> None:
    job_apply_report(job_id=job.pk, state="running", progress=7)
    job.refresh_from_db()
    assert job.progress == 1.0


def test_unknown_state_is_refused(job: Job) -> None:
    with pytest.raises(Conflict):
        job_apply_report(job_id=job.pk, state="exploded")


def test_cancel_twice_is_a_conflict(job: Job) -> None:
    actor = factories.UserFactory()
    job_cancel(job=job, actor=actor)
    with pytest.raises(Conflict):
        job_cancel(job=job, actor=actor)


def test_report_for_missing_job_is_ignored(db: Any) -> None:
    assert job_apply_report(job_id=999999, state="running") is None


def test_starter_may_cancel_own_job(world: World) -> None:
    labeler = world.users["labeler"]
    job = factories.JobFactory(
        project=world.project,
        institution=world.inst_a,
        created_by=labeler,
        series=world.objects["series_own"],
    )
    response = client_for(labeler).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"


def test_job_start_validates_input(world: World) -> None:
    client = client_for(world.users["project_admin"])
    bad_type = client.post(
        "/api/v1/jobs/", {"project": world.project.pk, "job_type": "mine_bitcoin"}, format="json"
    )
    assert bad_type.status_code == 400 and "job_type" in bad_type.json()
    foreign_series = client_for(world.users["labeler"]).post(
        "/api/v1/jobs/",
        {
            "project": world.project.pk,
            "job_type": "worker_info",
            "series": world.objects["series_other"].pk,
        },
        format="json",
    )
    assert foreign_series.status_code == 400 and "series" in foreign_series.json()
    assert Job.objects.filter(created_by=world.users["labeler"]).count() == 0

"""Queue position and time estimates, and storing a classification result."""

import base64
import zlib
from datetime import timedelta
from typing import Any

import numpy as np
from django.utils import timezone

from analysis.models import Job, SeriesLevels
from analysis.selectors import job_queue_estimate
from analysis.services import job_apply_report
from tests import factories
from tests.conftest import World, client_for


def _finished(project: Any, seconds: int) -> Job:
    start = timezone.now() - timedelta(hours=1)
    return factories.JobFactory(
        project=project,
        job_type="classify_levels",
        state="succeeded",
        started_at=start,
        finished_at=start + timedelta(seconds=seconds),
    )


def _no_other_active_jobs() -> None:
    Job.objects.filter(state__in=["queued", "running"]).update(state="cancelled")


def test_queue_position_and_estimates(world: World) -> None:
    _no_other_active_jobs()
    for seconds in (10, 20, 30):
        _finished(world.project, seconds)
    running = factories.JobFactory(
        project=world.project,
        job_type="classify_levels",
        state="running",
        started_at=timezone.now(),
    )
    first = factories.JobFactory(project=world.project, job_type="classify_levels")
    second = factories.JobFactory(project=world.project, job_type="classify_levels")
    estimate = job_queue_estimate(job=second)
    assert estimate.position == 2  # the running job and the earlier queued one
    wait = (estimate.estimated_start - timezone.now()).total_seconds()
    assert 35 <= wait <= 41  # two median durations of 20 s
    assert (estimate.estimated_finish - estimate.estimated_start).total_seconds() == 20
    assert job_queue_estimate(job=first).position == 1
    assert job_queue_estimate(job=running).position == 0
    shown = client_for(world.users["project_admin"]).get(f"/api/v1/jobs/{second.pk}/").json()
    assert shown["queue"]["position"] == 2 and shown["queue"]["estimated_start"]


def test_no_history_means_no_time_estimate(world: World) -> None:
    _no_other_active_jobs()
    job = factories.JobFactory(project=world.project, job_type="classify_levels")
    estimate = job_queue_estimate(job=job)
    assert estimate.position == 0 and estimate.estimated_start is None


def test_terminal_jobs_have_no_queue_entry(world: World) -> None:
    assert job_queue_estimate(job=_finished(world.project, 5)) is None


def _levels_result(n: int) -> dict[str, Any]:
    cams = np.arange(n * 4 * 4, dtype=np.uint8).reshape(n, 4, 4)
    return {
        "schema": "spine-levels/1",
        "model": {"name": "tiny", "version": "3", "sha256": "ab"},
        "slices": {
            "sop_instance_uids": [f"2.25.{i}" for i in range(n)],
            "positions_mm": [float(-i) for i in range(n)],
            "levels": ["L2"] * (n // 2) + ["L3"] * (n - n // 2),
            "confidence": [0.9] * n,
            "probabilities": [[0.05] * 19] * n,
        },
        "ranges": [{"level": "L2", "first": 0, "last": n // 2 - 1, "mid": 1, "confidence": 0.9}],
        "flags": [{"code": "gap", "message": "slices missing"}],
        "cams": {
            "shape": [n, 4, 4],
            "encoding": "zlib+base64",
            "data": base64.b64encode(zlib.compress(cams.tobytes())).decode(),
        },
        "sr": {"sop_instance_uid": "2.25.99", "series_instance_uid": "2.25.98"},
        "timings": {"total_s": 1.5},
    }


def test_classification_result_is_stored_once(world: World) -> None:
    job = factories.JobFactory(
        project=world.project,
        job_type="classify_levels",
        series=world.objects["series_own"],
        institution=world.inst_a,
    )
    job_apply_report(job_id=job.pk, state="succeeded", result=_levels_result(6))
    job_apply_report(job_id=job.pk, state="succeeded", result=_levels_result(6))
    job.refresh_from_db()
    levels = SeriesLevels.objects.get(job=job)
    assert SeriesLevels.objects.filter(job=job).count() == 1
    assert job.state == "succeeded" and job.result["series_levels"] == levels.pk
    assert "slices" not in job.result  # the job keeps a compact summary only
    assert levels.slice_levels[-1] == "L3" and levels.sr_sop_instance_uid == "2.25.99"
    assert levels.slice_positions_mm == [0.0, -1.0, -2.0, -3.0, -4.0, -5.0]
    cams = np.frombuffer(zlib.decompress(bytes(levels.cams)), dtype=np.uint8)
    assert cams.reshape(levels.cam_shape)[5, 3, 3] == 5 * 16 + 15


def test_malformed_result_fails_the_job_with_a_message(world: World) -> None:
    job = factories.JobFactory(
        project=world.project,
        job_type="classify_levels",
        series=world.objects["series_own"],
        institution=world.inst_a,
    )
    job_apply_report(job_id=job.pk, state="succeeded", result={"schema": "something-else"})
    job.refresh_from_db()
    assert job.state == "failed" and "could not be stored" in job.error
    assert not SeriesLevels.objects.filter(job=job).exists()

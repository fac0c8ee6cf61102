"""Soak: the GPU worker is SIGKILLed mid-job --kills times (default 50) while a
few classification jobs run; afterwards every job has succeeded exactly once:
one SeriesLevels row and one DICOM SR per series, nothing half-written.

Real Orthanc, PostgreSQL, Redis and Celery workers (the integration tests'
fixtures); acks_late + a 4 s visibility timeout bring each killed delivery back.
About 10-15 minutes on 2 cores. Run from the repository root:

    SOAK_KILLS=50 tests/run.sh bench/faults/test_worker_kill_soak.py -s
"""

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from analysis.models import Job, SeriesLevels
from imaging.models import Series
from tests.conftest import World, client_for
from tests.imaging.dicom_samples import ct_series_files
from tests.integration.conftest import Workers, wait_for
from tests.integration.test_classify_job import _sr_series, _start

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KILLS = int(os.environ.get("SOAK_KILLS", "50"))
JOBS = int(os.environ.get("SOAK_JOBS", "3"))


def _upload(world: World, tmp: Path, patient: int) -> Series:
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = ct_series_files(tmp, patient=patient, slices=24, size=128)
    payload = {"project": world.project.pk, "files": [SimpleUploadedFile(n, d) for n, d in files]}
    response = client_for(world.users["investigator"]).post(
        "/api/v1/uploads/", payload, format="multipart"
    )
    assert response.status_code == 201, response.content
    return Series.objects.get(study_id=response.json()["studies"][0])


def _deliveries(job_ids: list[int]) -> int:
    return sum(Job.objects.filter(pk__in=job_ids).values_list("attempts", flat=True))


def test_gpu_worker_killed_mid_job_many_times_every_job_completes_once(
    world: World, image_store: Any, model_registry: Path, workers: Workers, tmp_path: Path
) -> None:
    rng = random.Random(9)
    series = [_upload(world, tmp_path, patient) for patient in range(JOBS)]
    job_ids = [_start(world, s)["id"] for s in series]
    started = time.monotonic()
    kills = hits = 0
    while kills < KILLS:
        seen = _deliveries(job_ids)
        deadline = time.monotonic() + 120
        while _deliveries(job_ids) == seen:  # wait for the next delivery to start
            assert time.monotonic() < deadline, workers.log("gpu")[-3000:]
            if not Job.objects.filter(pk__in=job_ids).exclude(state="succeeded").exists():
                break
            time.sleep(0.05)
        else:
            time.sleep(rng.uniform(0.0, 1.5))  # somewhere in fetch, inference or SR store
            hits += Job.objects.filter(pk__in=job_ids, state="running").exists()
            workers.procs["gpu"].send_signal(signal.SIGKILL)
            workers.procs["gpu"].wait()
            kills += 1
            workers.start("gpu")
            continue
        pytest.fail(f"all jobs finished after only {kills} kills: make the jobs longer")
    jobs = [wait_for(job_id, {"succeeded", "failed"}, timeout=300) for job_id in job_ids]
    elapsed = time.monotonic() - started
    print(
        f"\n{kills} kills ({hits} while a job was running) in {elapsed:.0f} s; "
        f"deliveries per job: {[job.attempts for job in jobs]}"
    )
    for job, one in zip(jobs, series, strict=True):
        assert job.state == "succeeded", (job.error, workers.log("gpu")[-3000:])
        assert SeriesLevels.objects.filter(series=one).count() == 1
        assert len(_sr_series(image_store, one.study.study_instance_uid)) == 1
    assert sum(job.attempts for job in jobs) >= kills  # each kill cost a delivery

"""Job lifecycle: start (row + task sent by name after commit), cancel, and
apply a worker's report. Reports are idempotent: a terminal job ignores them,
so a redelivered task never changes a finished result."""

import logging
import uuid
from typing import Any

from celery import current_app
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from kombu.exceptions import OperationalError

from analysis.job_types import JOB_TYPES, Target
from analysis.models import ALLOWED_TRANSITIONS, TERMINAL_STATES, Job, JobState
from analysis.results import result_store
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import ApplicationError, Conflict, ServiceUnavailable
from imaging.models import Series
from projects.models import ResearchProject

logger = logging.getLogger(__name__)
MAX_MESSAGE = 500


@transaction.atomic
def job_start(
    *,
    project: ResearchProject,
    job_type: str,
    series: Series | None,
    parameters: dict[str, Any],
    created_by: Any,
    request: HttpRequest | None = None,
) -> Job:
    spec = JOB_TYPES.get(job_type)
    if spec is None:
        raise ApplicationError(f"Unknown job type {job_type!r}.", extra={"job_type": job_type})
    if spec.target is Target.SERIES and series is None:
        raise ApplicationError("This job type needs a series.", extra={"series": "required"})
    if series is not None and series.study.project_id != project.pk:
        raise ApplicationError("The series is not part of this project.")
    parameters = spec.task_parameters(series=series, parameters=parameters, project=project)
    job = Job.objects.create(
        project=project,
        institution_id=series.study.institution_id if series is not None else None,
        series=series,
        job_type=job_type,
        parameters=parameters,
        created_by=created_by,
        task_id=str(uuid.uuid4()),
    )
    audit_record(
        action=AuditAction.JOB_STARTED,
        actor=created_by,
        obj=job,
        project_id=project.pk,
        request=request,
        detail={"job_type": job_type},
    )
    payload: dict[str, Any] = {"job_id": job.pk, "parameters": parameters}
    if series is not None:
        payload["target"] = {
            "study_instance_uid": series.study.study_instance_uid,
            "series_instance_uid": series.series_instance_uid,
        }
    if spec.payload is not None:
        payload.update(spec.payload(parameters))
    transaction.on_commit(lambda: enqueue(job, spec.task_name, spec.queue, payload))
    return job


QUEUE_DOWN = "The job queue could not be reached, so the job was not started. Try again later."


def enqueue(job: Job, task_name: str, queue: str, payload: dict[str, Any]) -> None:
    """Send the committed job to its queue. With the broker down the job must not
    stay queued forever: it is failed with a message and the caller gets a 503."""
    try:
        current_app.send_task(task_name, kwargs=payload, queue=queue, task_id=job.task_id)
    except (OperationalError, OSError) as exc:
        logger.error("job %s: could not be queued: %s", job.pk, exc)
        Job.objects.filter(pk=job.pk).update(
            state=JobState.FAILED, error=QUEUE_DOWN, finished_at=timezone.now()
        )
        raise ServiceUnavailable(QUEUE_DOWN, extra={"job": job.pk}) from exc


@transaction.atomic
def job_cancel(*, job: Job, actor: Any, request: HttpRequest | None = None) -> Job:
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.is_terminal:
        raise Conflict(f"The job has already {job.state}.", extra={"state": job.state})
    _transition(job, JobState.CANCELLED, message="Cancelled by user")
    job.save()
    audit_record(
        action=AuditAction.JOB_CANCELLED,
        actor=actor,
        obj=job,
        project_id=job.project_id,
        request=request,
    )
    task_id = job.task_id
    transaction.on_commit(lambda: current_app.control.revoke(task_id))
    return job


def _transition(job: Job, state: str, *, message: str = "") -> None:
    if state not in ALLOWED_TRANSITIONS.get(job.state, frozenset()):
        raise Conflict(f"A {job.state} job cannot become {state}.")
    now = timezone.now()
    if state != JobState.CANCELLED and job.started_at is None:
        job.started_at = now
    if state in TERMINAL_STATES:
        job.finished_at = now
    job.state = state
    if message:
        job.message = message[:MAX_MESSAGE]


@transaction.atomic
def job_apply_report(
    *,
    job_id: int,
    state: str,
    progress: float | None = None,
    message: str = "",
    result: dict[str, Any] | None = None,
    error: str = "",
    started: bool = False,
) -> Job | None:
    """Apply a worker's report. `started` marks the start of a delivery (a
    redelivered task starts again). Returns None and changes nothing when the
    job is gone or already terminal, which makes redelivered reports harmless."""
    job = Job.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.is_terminal:
        logger.info("job %s: report %s ignored (gone or terminal)", job_id, state)
        return None
    if state != job.state:  # a running job's "running" report is a progress update
        _transition(job, state, message=message)
    if started:
        job.attempts += 1
    if message:
        job.message = message[:MAX_MESSAGE]
    if progress is not None:
        job.progress = min(max(float(progress), 0.0), 1.0)
    if state == JobState.SUCCEEDED:
        job.progress = 1.0
        try:
            job.result = result_store(job, result)
        except (ApplicationError, KeyError, TypeError, ValueError) as exc:
            # A malformed result fails the job instead of losing the report.
            job.state, job.result = JobState.FAILED, None
            job.error = f"The worker's result could not be stored: {exc}"
    if state == JobState.FAILED:
        job.error = error or "failed without a message"
    job.save()
    logger.info("job %s: now %s (%.0f%%)", job.pk, job.state, job.progress * 100)
    return job

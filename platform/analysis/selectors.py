"""Reads of jobs, limited to what the user may see: project-wide jobs to every
member, data jobs by the scope of the institution that owns the data."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from analysis.job_types import JOB_TYPES
from analysis.models import Job, JobState, SeriesLevels
from projects.access import project_ids_with, scoped_filter
from projects.roles import Capability

ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
JOB_COLUMNS = tuple(f.name for f in Job._meta.concrete_fields)
LEVELS_LIST_COLUMNS = tuple(
    f.name
    for f in SeriesLevels._meta.concrete_fields
    if f.name not in {"cams", "slice_positions_mm"}
)


def job_list(*, user: Any) -> QuerySet[Job]:
    project_wide = Q(
        institution__isnull=True, project_id__in=project_ids_with(user, Capability.VIEW_PROJECT)
    )
    # Callers read the starter's name, never the job's project or series rows
    # (ids only): the series' slice positions alone can be large.
    return (
        Job.objects.filter(project_wide | scoped_filter(user, Capability.VIEW_STUDIES))
        .select_related("created_by")
        .only(*JOB_COLUMNS, "created_by__username")
    )


@dataclass(frozen=True)
class QueueEstimate:
    position: int  # jobs ahead on the same queue, running ones included
    estimated_start: datetime | None
    estimated_finish: datetime | None


def job_queue_estimate(*, job: Job) -> QueueEstimate | None:
    """Where a queued or running job stands: jobs ahead of it on the same
    Celery queue, and start/finish estimated from the median duration of the
    last finished jobs of each type (None when there is no history yet)."""
    return job_queue_estimates(jobs=[job])[job.pk]


def job_queue_estimates(*, jobs: Iterable[Job]) -> dict[int, QueueEstimate | None]:
    """job_queue_estimate of each job (a listed page), by job id: no query when
    all are finished, else two, however many jobs and types there are."""
    jobs = list(jobs)
    estimates: dict[int, QueueEstimate | None] = {job.pk: None for job in jobs}
    live = [job for job in jobs if not job.is_terminal]
    if not live:
        return estimates
    queued = [job for job in live if job.state != JobState.RUNNING]
    queues = {JOB_TYPES[job.job_type].queue for job in queued if job.job_type in JOB_TYPES}
    active = (
        list(
            Job.objects.filter(
                job_type__in=[name for name, jt in JOB_TYPES.items() if jt.queue in queues],
                state__in=ACTIVE_STATES,
            ).values_list("pk", "job_type", "state", "created_at")
        )
        if queues
        else []
    )
    durations = _typical_durations({job.job_type for job in live} | {row[1] for row in active})
    now = timezone.now()
    for job in live:
        own = durations.get(job.job_type)
        if job.state == JobState.RUNNING:
            finish = job.started_at + own if own and job.started_at else None
            estimates[job.pk] = QueueEstimate(
                0, job.started_at, max(finish, now) if finish else None
            )
            continue
        spec = JOB_TYPES.get(job.job_type)
        waits = [
            durations.get(job_type)
            for pk, job_type, state, created_at in active
            if spec
            and JOB_TYPES[job_type].queue == spec.queue
            and pk != job.pk
            and (state == JobState.RUNNING or created_at < job.created_at)
        ]
        if own is None or any(w is None for w in waits):
            estimates[job.pk] = QueueEstimate(len(waits), None, None)
            continue
        # One worker per queue in the worst case: the jobs ahead run one after another.
        start = now + sum(waits, timedelta())  # type: ignore[arg-type]
        estimates[job.pk] = QueueEstimate(len(waits), start, start + own)
    return estimates


def _typical_durations(job_types: set[str], sample: int = 20) -> dict[str, timedelta]:
    """Median duration of the last `sample` successful jobs of each type (one
    query); types without history are left out."""
    rows = (
        Job.objects.filter(
            job_type__in=job_types, state=JobState.SUCCEEDED, started_at__isnull=False
        )
        .annotate(
            recent=Window(
                RowNumber(), partition_by=[F("job_type")], order_by=F("finished_at").desc()
            )
        )
        .filter(recent__lte=sample)
        .order_by()
        .values_list("job_type", "started_at", "finished_at")
    )
    durations: dict[str, list[timedelta]] = {}
    for job_type, started_at, finished_at in rows:
        if finished_at:
            durations.setdefault(job_type, []).append(finished_at - started_at)
    return {t: sorted(d)[len(d) // 2] for t, d in durations.items()}


def series_levels_list(*, user: Any) -> QuerySet[SeriesLevels]:
    """Classification results the user may read (results follow the series'
    institution scope, like the studies they describe)."""
    visible = scoped_filter(
        user,
        Capability.VIEW_RESULTS,
        project_field="series__study__project_id",
        institution_field="series__study__institution_id",
    )
    # Neither the CAM bytes nor the slice positions (callers list neither), and of
    # the job only its state.
    return (
        SeriesLevels.objects.filter(visible)
        .select_related("job")
        .only(*LEVELS_LIST_COLUMNS, "job__state")
    )


def series_known_slices(*, series_id: int) -> tuple[list[str], list[float]] | None:
    """SOP instance UIDs and positions of every slice, superior first, from the
    newest successful classification (two columns only); None if unclassified."""
    row = (
        SeriesLevels.objects.filter(series_id=series_id, job__state=JobState.SUCCEEDED)
        .order_by("-created_at", "-id")
        .values_list("slice_sop_instance_uids", "slice_positions_mm")
        .first()
    )
    return (list(row[0] or []), list(row[1] or [])) if row else None


def series_levels_latest(*, series_id: int) -> SeriesLevels | None:
    """The newest successful classification of a series (CAM bytes not loaded)."""
    return (
        SeriesLevels.objects.filter(series_id=series_id, job__state=JobState.SUCCEEDED)
        .defer("cams")
        .order_by("-created_at", "-id")
        .first()
    )

"""Reads of jobs, limited to what the user may see: project-wide jobs to every
member, data jobs by the scope of the institution that owns the data."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from analysis.job_types import JOB_TYPES
from analysis.models import Job, JobState, SeriesLevels
from projects.access import project_ids_with, scoped_filter
from projects.roles import Capability

ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)


def job_list(*, user: Any) -> QuerySet[Job]:
    project_wide = Q(
        institution__isnull=True, project_id__in=project_ids_with(user, Capability.VIEW_PROJECT)
    )
    return Job.objects.filter(
        project_wide | scoped_filter(user, Capability.VIEW_STUDIES)
    ).select_related("project", "created_by", "series")


@dataclass(frozen=True)
class QueueEstimate:
    position: int  # jobs ahead on the same queue, running ones included
    estimated_start: datetime | None
    estimated_finish: datetime | None


def job_queue_estimate(*, job: Job) -> QueueEstimate | None:
    """Where a queued or running job stands: jobs ahead of it on the same
    Celery queue, and start/finish estimated from the median duration of the
    last finished jobs of each type (None when there is no history yet)."""
    if job.is_terminal:
        return None
    spec = JOB_TYPES.get(job.job_type)
    queue_types = [name for name, jt in JOB_TYPES.items() if spec and jt.queue == spec.queue]
    ahead = (
        Job.objects.filter(job_type__in=queue_types, state__in=ACTIVE_STATES)
        .filter(Q(state=JobState.RUNNING) | Q(created_at__lt=job.created_at))
        .exclude(pk=job.pk)
    )
    now = timezone.now()
    if job.state == JobState.RUNNING:
        duration = _typical_duration(job.job_type)
        finish = job.started_at + duration if duration and job.started_at else None
        return QueueEstimate(0, job.started_at, max(finish, now) if finish else None)
    waits = [_typical_duration(t) for t in ahead.values_list("job_type", flat=True)]
    own = _typical_duration(job.job_type)
    if own is None or any(w is None for w in waits):
        return QueueEstimate(len(waits), None, None)
    # One worker per queue in the worst case: the jobs ahead run one after another.
    start = now + sum(waits, timedelta())  # type: ignore[arg-type]
    return QueueEstimate(len(waits), start, start + own)


def _typical_duration(job_type: str, sample: int = 20) -> timedelta | None:
    rows = Job.objects.filter(
        job_type=job_type, state=JobState.SUCCEEDED, started_at__isnull=False
    ).order_by("-finished_at")[:sample]
    durations = sorted(j.finished_at - j.started_at for j in rows if j.finished_at)
    return durations[len(durations) // 2] if durations else None


def series_levels_list(*, user: Any) -> QuerySet[SeriesLevels]:
    """Classification results the user may read (results follow the series'
    institution scope, like the studies they describe)."""
    visible = scoped_filter(
        user,
        Capability.VIEW_RESULTS,
        project_field="series__study__project_id",
        institution_field="series__study__institution_id",
    )
    return SeriesLevels.objects.filter(visible).select_related("job", "series").defer("cams")


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

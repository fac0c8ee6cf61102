"""Reads of jobs, limited to what the user may see: project-wide jobs to every
member, data jobs by the scope of the institution that owns the data."""

from typing import Any

from django.db.models import Q, QuerySet

from analysis.models import Job
from projects.access import project_ids_with, scoped_filter
from projects.roles import Capability


def job_list(*, user: Any) -> QuerySet[Job]:
    project_wide = Q(
        institution__isnull=True, project_id__in=project_ids_with(user, Capability.VIEW_PROJECT)
    )
    return Job.objects.filter(
        project_wide | scoped_filter(user, Capability.VIEW_STUDIES)
    ).select_related("project", "created_by", "series")

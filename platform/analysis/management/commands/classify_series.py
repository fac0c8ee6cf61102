"""Start level classification for every series of a project that has neither
a result nor an active classification job (e.g. after a bulk ingest)."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.job_types import JOB_TYPES
from analysis.models import Job, JobState
from analysis.services import job_start
from imaging.models import Series
from projects.access import user_can
from projects.models import ResearchProject

JOB_TYPE = "classify_levels"


class Command(BaseCommand):
    help = "Queue classify_levels jobs for a project's unclassified series."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--user", required=True, help="who starts the jobs")

    def handle(self, *args: Any, **options: Any) -> None:
        project = ResearchProject.objects.filter(slug=options["project"]).first()
        user = get_user_model().objects.filter(username=options["user"]).first()
        if project is None or user is None:
            raise CommandError("Unknown project or user.")
        capability = JOB_TYPES[JOB_TYPE].capability
        started = 0
        for series in Series.objects.filter(study__project=project, modality="CT"):
            if not user_can(
                user, capability, project_id=project.pk, institution_id=series.study.institution_id
            ):
                continue
            busy = Job.objects.filter(series=series, job_type=JOB_TYPE).exclude(
                state__in=[JobState.FAILED, JobState.CANCELLED]
            )
            if busy.exists():
                continue
            job_start(
                project=project, job_type=JOB_TYPE, series=series, parameters={}, created_by=user
            )
            started += 1
        self.stdout.write(self.style.SUCCESS(f"Queued {started} classification job(s)."))

"""Ingest DICOM files, folders or zips from disk into a project, exactly as an
upload by the given investigator would (same validation, de-identification,
store and index). Used by `make demo` and for bulk loads on the server."""

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from imaging.ingest import UploadItem
from imaging.services import upload_ingest
from projects.access import user_can
from projects.models import ResearchProject
from projects.roles import Capability

MAX_LISTED = 10


class Command(BaseCommand):
    help = "Ingest DICOM files, folders or zips into a project as an investigator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--user", required=True, help="an investigator of the project")
        parser.add_argument("--batch", type=int, default=200, help="files per ingest call")

    def handle(self, *args: Any, **options: Any) -> None:
        project = ResearchProject.objects.filter(slug=options["project"]).first()
        user = get_user_model().objects.filter(username=options["user"]).first()
        if project is None or user is None:
            raise CommandError("Unknown project or user.")
        if not user_can(
            user, Capability.UPLOAD, project_id=project.pk, institution_id=user.institution_id
        ):
            raise CommandError(f"{user.username} may not upload into {project.slug}.")
        files = sorted(
            f
            for p in options["paths"]
            for f in ([p] if p.is_file() else p.rglob("*"))
            if f.is_file()
        )
        totals: dict[str, int] = {}
        for start in range(0, len(files), options["batch"]):
            chunk = files[start : start + options["batch"]]
            items = [UploadItem(str(f), f.read_bytes()) for f in chunk]
            report = upload_ingest(project=project, user=user, items=items)
            for key, value in report.counts.items():
                totals[key] = totals.get(key, 0) + value
            problems = [row for row in report.files if row.status in ("rejected", "quarantined")]
            for row in problems[:MAX_LISTED]:
                self.stdout.write(f"  {row.status}: {row.name} ({row.code}: {row.message})")
            if len(problems) > MAX_LISTED:
                self.stdout.write(f"  ... and {len(problems) - MAX_LISTED} more not stored")
        self.stdout.write(self.style.SUCCESS(f"Ingested {len(files)} files: {totals}"))

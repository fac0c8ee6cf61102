"""Write a project's verified tissue masks with their CT slices as training
data for ml_worker.bodycomp.train (see analysis.masks.training)."""

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.masks.training import export_training_masks
from imaging.dicomweb import ImageStoreError
from projects.access import user_can
from projects.models import ResearchProject
from projects.roles import Capability


class Command(BaseCommand):
    help = "Export verified masks + HU slices in the manifest format of ml_worker.bodycomp.data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--user", required=True, help="a project admin (audited)")
        parser.add_argument("--out", required=True, type=Path, help="output folder")

    def handle(self, *args: Any, **options: Any) -> None:
        project = ResearchProject.objects.filter(slug=options["project"]).first()
        user = get_user_model().objects.filter(username=options["user"]).first()
        if project is None or user is None:
            raise CommandError("Unknown project or user.")
        if not user_can(user, Capability.MANAGE_PROJECT, project_id=project.pk):
            raise CommandError("Only a project admin exports training data.")
        try:
            result = export_training_masks(project=project, out=options["out"], actor=user)
        except ImageStoreError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{result.slices} slices of {result.measurements} verified measurements -> "
            f"{result.manifest}\n"
            f"train: python -m ml_worker.bodycomp.train --data {result.manifest} --out RUN_DIR"
        )

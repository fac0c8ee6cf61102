"""Write a dataset version's manifest and fetch its instances, ready for
`python -m ml_worker.training.train --data OUT/manifest.csv`; with frozen
masks also `python -m ml_worker.bodycomp.train --data OUT/masks_manifest.csv`."""

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from learning.export import dataset_export_files
from learning.models import DatasetVersion
from projects.access import user_can
from projects.roles import Capability


class Command(BaseCommand):
    help = "Export a dataset version (manifest + DICOM instances) for training."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--number", required=True, type=int, help="dataset version number")
        parser.add_argument("--user", required=True, help="the project admin exporting it")
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = DatasetVersion.objects.filter(
            project__slug=options["project"], number=options["number"]
        ).first()
        user = get_user_model().objects.filter(username=options["user"]).first()
        if dataset is None or user is None:
            raise CommandError("Unknown project, dataset version or user.")
        if not user_can(user, Capability.MANAGE_PROJECT, project_id=dataset.project_id):
            raise CommandError("Only the project's admins export its datasets.")
        result = dataset_export_files(dataset=dataset, out=options["out"], user=user)
        self.stdout.write(
            f"{result.manifest}: {result.fetched} instances fetched, {result.present} present; "
            f"train: python -m ml_worker.training.train --data {result.manifest} --out RUN_DIR"
        )
        if result.mask_slices:
            masks = result.manifest.parent / "masks_manifest.csv"
            self.stdout.write(
                f"{result.mask_slices} mask slices; segmentation: "
                f"python -m ml_worker.bodycomp.train --data {masks} --out RUN_DIR"
            )

"""Bring the platform's model registry up to date with the file registry the
GPU workers load from (MODEL_REGISTRY_DIR / MODEL_NAME). Safe to repeat."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from learning.registry import model_versions_sync


class Command(BaseCommand):
    help = "Sync model versions from the file registry into the platform."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--root", default=str(settings.MODEL_REGISTRY_DIR))
        parser.add_argument("--name", default=settings.MODEL_NAME)

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(options["root"])
        if not (root / options["name"]).is_dir():
            raise CommandError(f"No model {options['name']!r} under {root}.")
        report = model_versions_sync(root=root, name=options["name"])
        self.stdout.write(
            f"{len(report.created)} new, {len(report.updated)} updated, "
            f"{len(report.invalid)} unreadable: {', '.join(report.created) or '-'}"
        )

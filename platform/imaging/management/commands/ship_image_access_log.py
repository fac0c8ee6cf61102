"""Ship the edge's image access log into the audit log (imaging.edge_access_log).

Runs beside nginx with its log folder mounted: once (cron, tests) or with
--follow as a long-running process (deploy/compose, deploy/k8s)."""

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from imaging.edge_access_log import ship_folder


class Command(BaseCommand):
    help = "Ship nginx's image access log (one JSON line per pixel request) into the audit log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "folder", type=Path, help="the folder nginx writes the log to (IMAGE_ACCESS_LOG_DIR)"
        )
        parser.add_argument("--follow", action="store_true", help="keep shipping new lines")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between looks (--follow)"
        )

    def handle(
        self, *args: Any, folder: Path, follow: bool, interval: float, **options: Any
    ) -> None:
        while True:
            result = ship_folder(folder)
            if result.shipped or result.skipped or not follow:
                self.stdout.write(f"shipped {result.shipped}, skipped {result.skipped}")
            if not follow:
                return
            close_old_connections()  # a database restart must not end the loop's connection
            time.sleep(interval)

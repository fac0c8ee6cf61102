"""The edge's image access log shipped into the audit log.

nginx (deploy/docker/nginx) serves the viewer's frames and rendered images
straight from the image store once imaging.proxy.authorize_images allowed the
study, and writes one JSON line per such request into a folder, one file per
hour. Each line becomes the same IMAGE_ACCESSED event the platform's own proxy
writes (user, study, project, resource, status, bytes), at the request's time.

Exactly once: a cursor per file (its inode and the offset after the last
shipped line) advances in the transaction that writes the rows, so a shipper
killed midway ships the same lines again and nothing twice. Only whole lines
are read. A file is deleted once it is shipped to its end, a newer one exists
and nginx has not written to it for FINISHED_AFTER_S (nginx keeps a log's
descriptor open for a minute at most: open_log_file_cache). A line that
cannot be read is logged and skipped, never blocking the lines after it."""

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.urls import Resolver404, resolve

from audit.models import AuditAction, AuditEvent, LogCursor
from core.http import forwarded_client
from imaging import proxy

logger = logging.getLogger(__name__)
LOG_PATTERN = "*.log"
MAX_BYTES_PER_BATCH = 4 << 20
FINISHED_AFTER_S = 300
# The platform's refusals, as authorize_images names them (X-Image-Refusal).
_REFUSALS = frozenset({"unauthenticated", "denied", "not_found"})


@dataclass(frozen=True)
class ShipResult:
    shipped: int = 0
    skipped: int = 0

    def __add__(self, other: "ShipResult") -> "ShipResult":
        return ShipResult(self.shipped + other.shipped, self.skipped + other.skipped)


def ship_folder(folder: Path) -> ShipResult:
    """Ship every whole line written so far, oldest file first, and delete the
    files that are done."""
    files = sorted(folder.glob(LOG_PATTERN))
    total = ShipResult()
    for index, path in enumerate(files):
        total += ship_file(path)
        if index < len(files) - 1:
            _delete_if_finished(path)
    return total


def ship_file(path: Path) -> ShipResult:
    total = ShipResult()
    while True:
        result, more = _ship_batch(path)
        total += result
        if not more:
            return total


def _ship_batch(path: Path) -> tuple[ShipResult, bool]:
    """Up to MAX_BYTES_PER_BATCH of whole lines in one transaction; whether more may wait."""
    with transaction.atomic():
        cursor, _ = LogCursor.objects.select_for_update().get_or_create(path=str(path))
        try:
            with path.open("rb") as log:
                stat = os.fstat(log.fileno())
                restart = stat.st_ino != cursor.inode or stat.st_size < cursor.offset
                if restart:  # a new file under this name (or one cut short): from its start
                    cursor.inode, cursor.offset = stat.st_ino, 0
                log.seek(cursor.offset)
                data = log.read(MAX_BYTES_PER_BATCH)
        except FileNotFoundError:
            return ShipResult(), False
        end = data.rfind(b"\n") + 1
        events, skipped = _events(data[:end].splitlines())
        AuditEvent.objects.bulk_create(events)
        if end or restart:  # an idle poll writes nothing
            cursor.offset += end
            cursor.save()
    return ShipResult(len(events), skipped), len(data) == MAX_BYTES_PER_BATCH and end > 0


def _delete_if_finished(path: Path) -> None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return
    cursor = LogCursor.objects.filter(path=str(path), inode=stat.st_ino).first()
    if cursor is None or cursor.offset < stat.st_size:
        return
    if time.time() - stat.st_mtime < FINISHED_AFTER_S:
        return
    # The file first: a crash in between leaves a cursor without a file, never
    # a file without its cursor (which would be shipped again).
    path.unlink()
    cursor.delete()


def _events(lines: list[bytes]) -> tuple[list[AuditEvent], int]:
    events, skipped = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            events.append(event_from_line(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            skipped += 1
            logger.warning("edge access log: unreadable line skipped (%s)", exc)
    return events, skipped


def event_from_line(entry: dict[str, Any]) -> AuditEvent:
    """One logged request as the audit event the platform's proxy would write."""
    status = int(entry["status"])
    path, _, _query = str(entry["uri"]).partition("?")
    resource, params = _resource_of(path)
    actor = entry.get("actor") or ""
    study = entry.get("study") or ""
    project = entry.get("project") or ""
    return AuditEvent(
        at=datetime.fromtimestamp(float(entry["time"]), tz=UTC),  # nginx's $msec
        action=AuditAction.IMAGE_ACCESSED,
        actor_id=int(actor) if actor else None,
        actor_username=str(entry.get("username") or "")[:150],
        object_type="imaging.study" if study else "",
        object_id=str(int(study)) if study else "",
        project_id=int(project) if project else None,
        ip_address=forwarded_client(
            str(entry.get("forwarded_for") or ""), str(entry.get("remote_addr") or "")
        )[:45],
        user_agent=str(entry.get("user_agent") or "")[:256],
        detail={
            "resource": resource,
            **params,
            "method": str(entry.get("method") or ""),
            "status": status,
            "outcome": _outcome(entry, status),
            "bytes": int(entry.get("bytes") or 0),
            "served_by": "edge",
            "request_id": str(entry.get("request_id") or ""),
        },
    )


def _resource_of(path: str) -> tuple[str, dict[str, str]]:
    """The proxy resource and its parameters, by the platform's own routes."""
    try:
        match = resolve(path)
    except Resolver404:
        return "unknown", {"path": path[:200]}
    if match.func is not proxy.dicomweb:
        return "unknown", {"path": path[:200]}
    return match.kwargs["resource"].name, {k: v for k, v in match.kwargs.items() if k != "resource"}


def _outcome(entry: dict[str, Any], status: int) -> str:
    refusal = str(entry.get("refusal") or "")
    if refusal in _REFUSALS and status in (401, 403, 404):
        return refusal
    if status == 405:
        return "method_not_allowed"
    if status >= 500:
        return "upstream_error"
    if status >= 400:
        return "upstream_refused"
    return "ok" if entry.get("complete") == "OK" else "incomplete"

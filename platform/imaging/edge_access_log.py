"""The edge's image access log shipped into the audit log.

nginx (deploy/docker/nginx) serves the viewer's frames and rendered images
straight from the image store once imaging.proxy.authorize_images allowed the
study, and writes one JSON line per such request. Each line becomes the same
IMAGE_ACCESSED event the platform's own proxy writes (user, study, project,
resource, status, bytes), with the request's own time.

Exactly once: a cursor per log file (its inode and the offset after the last
shipped line) advances in the transaction that writes the rows, so a shipper
killed midway ships the same lines again and nothing twice. Only whole lines
are read. A rotated log (renamed to NAME.1, then nginx reopens NAME) is
finished before the new file is started; a line that cannot be read is logged
and skipped, never blocking the lines after it."""

import json
import logging
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
MAX_BYTES_PER_BATCH = 4 << 20
ROTATED_SUFFIX = ".1"
# The platform's refusals, as authorize_images names them (X-Image-Refusal).
_REFUSALS = frozenset({"unauthenticated", "denied", "not_found"})


@dataclass(frozen=True)
class ShipResult:
    shipped: int = 0
    skipped: int = 0

    def __add__(self, other: "ShipResult") -> "ShipResult":
        return ShipResult(self.shipped + other.shipped, self.skipped + other.skipped)


def ship_all(path: Path) -> ShipResult:
    """Ship every whole line written so far (the rotated file's rest first)."""
    total = ShipResult()
    while True:
        result, more = ship_batch(path)
        total += result
        if not more:
            return total


def ship_batch(path: Path) -> tuple[ShipResult, bool]:
    """Ship up to MAX_BYTES_PER_BATCH of whole lines in one transaction.
    Returns what was shipped and whether more may be waiting."""
    with transaction.atomic():
        cursor, _ = LogCursor.objects.select_for_update().get_or_create(path=str(path))
        source = _source_of(path, cursor)
        if source is None:
            return ShipResult(), False
        with source.open("rb") as log:
            log.seek(cursor.offset)
            data = log.read(MAX_BYTES_PER_BATCH)
        end = data.rfind(b"\n") + 1
        if end == 0:
            return ShipResult(), _switch_to_current(path, source, cursor)
        events, skipped = _events(data[:end].splitlines())
        AuditEvent.objects.bulk_create(events)
        cursor.offset += end
        cursor.save(update_fields=["offset", "updated_at"])
    return ShipResult(len(events), skipped), True


def _source_of(path: Path, cursor: LogCursor) -> Path | None:
    """The file the cursor points into: the log, or its rotated predecessor.
    A cursor whose file is gone, or was truncated, starts over on the log."""
    for candidate in (path, path.with_name(path.name + ROTATED_SUFFIX)):
        try:
            stat = candidate.stat()
        except FileNotFoundError:
            continue
        if stat.st_ino == cursor.inode and stat.st_size >= cursor.offset:
            return candidate
    try:
        inode = path.stat().st_ino
    except FileNotFoundError:
        return None
    if cursor.inode:
        logger.warning("edge access log %s: shipped file gone, starting on the new one", path)
    cursor.inode, cursor.offset = inode, 0
    cursor.save(update_fields=["inode", "offset", "updated_at"])
    return path


def _switch_to_current(path: Path, source: Path, cursor: LogCursor) -> bool:
    """At the end of a rotated file, continue on the current log."""
    if source == path:
        return False
    try:
        cursor.inode, cursor.offset = path.stat().st_ino, 0
    except FileNotFoundError:
        return False
    cursor.save(update_fields=["inode", "offset", "updated_at"])
    return True


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

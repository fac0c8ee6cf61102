"""The one way to write the audit log."""

from collections.abc import Callable
from typing import Any

from django.db import connection, models
from django.http import HttpRequest

from audit.models import AuditAction, AuditEvent
from core.http import client_ip, user_agent


def audit_record(
    *,
    action: AuditAction,
    actor: Any = None,
    obj: models.Model | None = None,
    project_id: int | None = None,
    request: HttpRequest | None = None,
    detail: dict[str, Any] | None = None,
    username: str = "",
    durable: bool = True,
) -> AuditEvent:
    """durable=False commits asynchronously on PostgreSQL (synchronous_commit
    off for this one statement's implicit transaction): the commit does not
    wait for the WAL flush (~5 ms on a slow disk). The row is never corrupted
    or half-written; a database server crash can lose only the last few
    hundred milliseconds of such rows. For high-volume read events (every
    proxied image request), never for logins, permission changes or writes.
    Inside a transaction it is durable: the setting would apply to all of it."""
    if durable or connection.vendor != "postgresql" or connection.in_atomic_block:
        return _create(actor, action, obj, project_id, request, detail, username)
    with connection.execute_wrapper(_commit_asynchronously):
        return _create(actor, action, obj, project_id, request, detail, username)


def _commit_asynchronously(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    # One round trip: PostgreSQL runs a multi-statement query as one implicit
    # transaction, and SET LOCAL counts at its commit. Appended, so that the
    # INSERT's RETURNING row stays the first result.
    return execute(f"{sql}; SET LOCAL synchronous_commit TO OFF", params, many, context)


def _create(
    actor: Any,
    action: AuditAction,
    obj: models.Model | None,
    project_id: int | None,
    request: HttpRequest | None,
    detail: dict[str, Any] | None,
    username: str,
) -> AuditEvent:
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        action=action,
        actor_id=actor.pk if authenticated else None,
        actor_username=actor.get_username() if authenticated else username[:150],
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        project_id=project_id,
        ip_address=client_ip(request) if request is not None else "",
        user_agent=user_agent(request) if request is not None else "",
        detail=detail or {},
    )

"""The one way to write the audit log."""

from typing import Any

from django.db import models
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

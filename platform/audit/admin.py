from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: staff may search the log but never add, change or delete."""

    list_display = [
        "at",
        "actor_username",
        "action",
        "object_type",
        "object_id",
        "project_id",
        "ip_address",
    ]
    list_filter = ["action"]
    search_fields = ["actor_username", "object_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

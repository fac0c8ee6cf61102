"""Read-only audit log: project admins see their projects' events, everyone
sees their own. There is no write endpoint."""

from typing import Any

from django.db.models import Q
from rest_framework import serializers, viewsets

from audit.models import AuditEvent
from projects.access import project_ids_with
from projects.roles import Capability


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor_id",
            "actor_username",
            "action",
            "object_type",
            "object_id",
            "project_id",
            "ip_address",
            "user_agent",
            "detail",
        ]
        read_only_fields = fields


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AuditEventSerializer
    filterset_fields = ["action", "project_id", "actor_username", "object_type"]

    def get_queryset(self) -> Any:
        user = self.request.user
        admin_projects = project_ids_with(user, Capability.VIEW_AUDIT)
        return AuditEvent.objects.filter(Q(project_id__in=admin_projects) | Q(actor_id=user.pk))

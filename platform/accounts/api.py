"""Who am I, which institutions can I see, and API tokens."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import Institution
from audit.models import AuditAction
from audit.services import audit_record
from projects.access import accesses_for
from projects.selectors import institution_list


class InstitutionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Institution
        fields = ["id", "name", "code", "country"]
        read_only_fields = fields


class InstitutionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = InstitutionSerializer

    def get_queryset(self) -> Any:
        return institution_list(user=self.request.user).order_by("name")


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    institution = serializers.CharField(allow_null=True)
    is_staff = serializers.BooleanField()
    projects = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    user = request.user
    return Response(
        {
            "id": user.pk,
            "username": user.username,
            "institution": user.institution.code if user.institution else None,
            "is_staff": user.is_staff,
            "projects": {str(pid): sorted(a.roles) for pid, a in accesses_for(user).items()},
        }
    )


class TokenView(ObtainAuthToken):
    """Exchange username and password for an API token (rate limited, and
    subject to the same lockout as the login form)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # django-axes marks the request; the form's lockout page does not apply here.
            if getattr(request, "axes_locked_out", False):
                return Response(
                    {"message": "Too many failed log-in attempts. Try again later."},
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                )
            raise ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        audit_record(action=AuditAction.TOKEN_ISSUED, actor=user, request=request)
        return Response({"token": token.key})

"""REST endpoints for projects, memberships and cohorts. Lists and lookups go
through selectors (objects outside the user's projects are 404); writes check
a capability in the target project, then call one service."""

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Institution
from core.errors import Forbidden
from core.fields import VisiblePrimaryKeyField
from imaging.models import Sex
from projects import selectors, services
from projects.access import access_for, require
from projects.models import Cohort, ProjectMembership, ResearchProject
from projects.roles import Capability, Role


class ProjectSerializer(serializers.ModelSerializer):
    institutions = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Institution.objects.all()
    )
    cross_institution_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), required=False
    )
    my_roles = serializers.SerializerMethodField()

    class Meta:
        model = ResearchProject
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "institutions",
            "cross_institution_roles",
            "my_roles",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def get_my_roles(self, project: ResearchProject) -> list[str]:
        access = access_for(self.context["request"].user, project.pk)
        return sorted(access.roles) if access else []


class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ProjectSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self) -> Any:
        return selectors.project_list(user=self.request.user)

    def perform_create(self, serializer: ProjectSerializer) -> None:
        if not self.request.user.is_staff:
            raise Forbidden("Only platform staff create projects.")
        data = serializer.validated_data
        serializer.instance = services.project_create(
            name=data["name"],
            slug=data["slug"],
            description=data.get("description", ""),
            institutions=data["institutions"],
            created_by=self.request.user,
            request=self.request,
        )
        if "cross_institution_roles" in data:
            services.project_update(
                project=serializer.instance,
                actor=self.request.user,
                request=self.request,
                data={"cross_institution_roles": data["cross_institution_roles"]},
            )

    def perform_update(self, serializer: ProjectSerializer) -> None:
        require(self.request.user, Capability.MANAGE_PROJECT, project_id=serializer.instance.pk)
        services.project_update(
            project=serializer.instance,
            actor=self.request.user,
            data=dict(serializer.validated_data),
            request=self.request,
        )


class MembershipSerializer(serializers.ModelSerializer):
    project = VisiblePrimaryKeyField(selector=selectors.project_list)
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True)
    )
    institution = serializers.CharField(source="user.institution.code", read_only=True)
    granted_by = serializers.CharField(source="granted_by.username", read_only=True, default=None)

    class Meta:
        model = ProjectMembership
        fields = ["id", "project", "user", "institution", "role", "granted_by", "created_at"]
        read_only_fields = ["id", "created_at"]


class MembershipViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = MembershipSerializer
    filterset_fields = ["project", "role"]

    def get_queryset(self) -> Any:
        return selectors.membership_list(user=self.request.user)

    def perform_create(self, serializer: MembershipSerializer) -> None:
        data = serializer.validated_data
        require(self.request.user, Capability.MANAGE_MEMBERS, project_id=data["project"].pk)
        serializer.instance = services.membership_grant(
            project=data["project"],
            user=data["user"],
            role=data["role"],
            granted_by=self.request.user,
            request=self.request,
        )

    def perform_destroy(self, instance: ProjectMembership) -> None:
        require(self.request.user, Capability.MANAGE_MEMBERS, project_id=instance.project_id)
        services.membership_revoke(
            membership=instance, revoked_by=self.request.user, request=self.request
        )


class CohortCriteriaSerializer(serializers.Serializer):
    institutions = serializers.ListField(child=serializers.SlugField(), required=False)
    sexes = serializers.ListField(
        child=serializers.ChoiceField(choices=[c for c in Sex.values if c]), required=False
    )
    age_min = serializers.IntegerField(min_value=0, max_value=130, required=False)
    age_max = serializers.IntegerField(min_value=0, max_value=130, required=False)
    modalities = serializers.ListField(child=serializers.CharField(max_length=16), required=False)
    body_parts = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    study_date_from = serializers.DateField(required=False)
    study_date_to = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("age_min", 0) > attrs.get("age_max", 130):
            raise serializers.ValidationError({"age_max": "Must not be below age_min."})
        start, end = attrs.get("study_date_from"), attrs.get("study_date_to")
        if start and end and start > end:
            raise serializers.ValidationError(
                {"study_date_to": "Must not be before study_date_from."}
            )
        return attrs


class CohortSerializer(serializers.ModelSerializer):
    project = VisiblePrimaryKeyField(selector=selectors.project_list)
    criteria = CohortCriteriaSerializer(required=False)
    studies = serializers.SerializerMethodField()

    class Meta:
        model = Cohort
        fields = [
            "id",
            "project",
            "name",
            "description",
            "criteria",
            "studies",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_studies(self, cohort: Cohort) -> list[int]:
        """Only the studies this user may see (see selectors.cohort_list)."""
        return sorted(s.pk for s in getattr(cohort, "visible_studies", []))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "criteria" in attrs:  # store JSON (ISO dates), exactly as validated
            attrs["criteria"] = CohortCriteriaSerializer().to_representation(attrs["criteria"])
        if (
            self.instance is not None
            and attrs.get("project", self.instance.project) != self.instance.project
        ):
            raise serializers.ValidationError(
                {"project": "A cohort cannot move to another project."}
            )
        return attrs


class CohortViewSet(viewsets.ModelViewSet):
    serializer_class = CohortSerializer
    filterset_fields = ["project"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.cohort_list(user=self.request.user)

    def perform_create(self, serializer: CohortSerializer) -> None:
        data = serializer.validated_data
        require(self.request.user, Capability.MANAGE_COHORTS, project_id=data["project"].pk)
        cohort = services.cohort_create(
            project=data["project"],
            name=data["name"],
            description=data.get("description", ""),
            criteria=data.get("criteria", {}),
            created_by=self.request.user,
            request=self.request,
        )
        serializer.instance = self.get_queryset().get(pk=cohort.pk)

    def perform_update(self, serializer: CohortSerializer) -> None:
        require(
            self.request.user, Capability.MANAGE_COHORTS, project_id=serializer.instance.project_id
        )
        data = {k: v for k, v in serializer.validated_data.items() if k != "project"}
        services.cohort_update(
            cohort=serializer.instance, actor=self.request.user, data=data, request=self.request
        )
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance: Cohort) -> None:
        require(self.request.user, Capability.MANAGE_COHORTS, project_id=instance.project_id)
        services.cohort_delete(cohort=instance, actor=self.request.user, request=self.request)

    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str | None = None) -> Response:
        """Re-apply the recorded criteria to the project's current studies."""
        cohort = self.get_object()
        require(request.user, Capability.MANAGE_COHORTS, project_id=cohort.project_id)
        services.cohort_update(cohort=cohort, actor=request.user, data={}, request=request)
        fresh = self.get_queryset().get(pk=cohort.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_200_OK)

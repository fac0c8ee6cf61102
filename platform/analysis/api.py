"""REST endpoints for jobs: list and follow them, start one, cancel one."""

from dataclasses import asdict
from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from analysis import selectors, services
from analysis.job_types import JOB_TYPES
from analysis.models import Job, SeriesLevels
from core.errors import Forbidden
from core.fields import VisiblePrimaryKeyField
from imaging.selectors import series_list
from projects.access import require, user_can
from projects.roles import Capability
from projects.selectors import project_list


class JobListSerializer(serializers.ListSerializer):
    """Estimates the queue of all listed jobs at once (a fixed number of queries)."""

    def to_representation(self, data: Any) -> list[Any]:
        jobs = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        self.child.queue_estimates = selectors.job_queue_estimates(jobs=jobs)
        return super().to_representation(jobs)


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    queue = serializers.SerializerMethodField()

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "position": {"type": "integer"},
                "estimated_start": {"type": "string", "format": "date-time", "nullable": True},
                "estimated_finish": {"type": "string", "format": "date-time", "nullable": True},
            },
        }
    )
    def get_queue(self, job: Job) -> dict[str, Any] | None:
        """Queue position and estimated start/finish while the job is active."""
        listed = getattr(self, "queue_estimates", None)
        if listed is not None and job.pk in listed:
            estimate = listed[job.pk]
        else:
            estimate = selectors.job_queue_estimate(job=job)
        return None if estimate is None else asdict(estimate)

    class Meta:
        model = Job
        list_serializer_class = JobListSerializer
        fields = [
            "id",
            "project",
            "institution",
            "series",
            "job_type",
            "state",
            "progress",
            "message",
            "parameters",
            "result",
            "error",
            "attempts",
            "queue",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class JobStartSerializer(serializers.Serializer):
    project = VisiblePrimaryKeyField(selector=project_list)
    job_type = serializers.ChoiceField(choices=sorted(JOB_TYPES))
    series = VisiblePrimaryKeyField(selector=series_list, required=False, allow_null=True)
    parameters = serializers.DictField(required=False, default=dict)


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = JobSerializer
    filterset_fields = ["project", "state", "job_type", "series"]
    ordering_fields = ["created_at", "state"]

    def get_queryset(self) -> Any:
        return selectors.job_list(user=self.request.user)

    @extend_schema(request=JobStartSerializer, responses=JobSerializer)
    def create(self, request: Request) -> Response:
        start = JobStartSerializer(data=request.data, context={"request": request})
        start.is_valid(raise_exception=True)
        data = start.validated_data
        series = data.get("series")
        require(
            request.user,
            JOB_TYPES[data["job_type"]].capability,
            project_id=data["project"].pk,
            institution_id=series.study.institution_id if series else None,
        )
        job = services.job_start(
            project=data["project"],
            job_type=data["job_type"],
            series=series,
            parameters=data["parameters"],
            created_by=request.user,
            request=request,
        )
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """The starter (still allowed to run jobs) or a project admin may cancel."""
        job = self.get_object()
        own = job.created_by_id == request.user.pk and user_can(
            request.user,
            Capability.RUN_JOBS,
            project_id=job.project_id,
            institution_id=job.institution_id,
        )
        if not own and not user_can(
            request.user, Capability.CANCEL_ANY_JOB, project_id=job.project_id
        ):
            raise Forbidden("Only the job's starter or a project admin may cancel it.")
        job = services.job_cancel(job=job, actor=request.user, request=request)
        return Response(JobSerializer(job).data)


class SeriesLevelsSerializer(serializers.ModelSerializer):
    job_state = serializers.CharField(source="job.state", read_only=True)

    class Meta:
        model = SeriesLevels
        fields = [
            "id",
            "job",
            "job_state",
            "series",
            "model_name",
            "model_version",
            "ranges",
            "flags",
            "slice_sop_instance_uids",
            "slice_levels",
            "slice_confidence",
            "slice_probabilities",
            "cam_shape",
            "sr_sop_instance_uid",
            "created_at",
        ]
        read_only_fields = fields


class SeriesLevelsViewSet(viewsets.ReadOnlyModelViewSet):
    """Spine levels found per series: ranges, flags and per-slice levels and
    probabilities (superior first), with the model version that made them."""

    serializer_class = SeriesLevelsSerializer
    filterset_fields = ["series", "job", "model_version"]

    def get_queryset(self) -> Any:
        return selectors.series_levels_list(user=self.request.user)

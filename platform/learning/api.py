"""Learning-loop endpoints under /api/v1/. Non-members get 404; members lack
the capability get 403. Freezing, manifest export, promotion and rollback
need MANAGE_PROJECT (project admins); reading versions needs VIEW_PROJECT;
the review queue needs LABEL or REVIEW and lists only series in that scope."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.validation import validated
from learning import datasets, queue, registry, selectors
from learning.serializers import (
    DatasetOut,
    FreezeIn,
    ModelVersionOut,
    ProjectModelOut,
    PromoteIn,
    PromotionOut,
    QueueIn,
    QueueOut,
)
from projects.access import require
from projects.roles import Capability

_ERRORS = {
    400: OpenApiResponse(description="Bad input, empty or unverified cohort, refused model"),
    403: OpenApiResponse(description="Missing capability"),
    404: OpenApiResponse(description="Not a member of the project"),
}


class ProjectDatasetsApi(APIView):
    """The project's dataset versions (GET), or freeze a new one (POST)."""

    @extend_schema(operation_id="project_datasets_list", responses=DatasetOut(many=True))
    def get(self, request: Request, pk: int) -> Response:
        project = selectors.project_for(
            user=request.user, project_id=pk, capability=Capability.VIEW_PROJECT
        )
        return Response(DatasetOut(selectors.dataset_list(project=project), many=True).data)

    @extend_schema(
        operation_id="project_datasets_freeze",
        request=FreezeIn,
        responses={201: DatasetOut, **_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        project = selectors.project_for(
            user=request.user, project_id=pk, capability=Capability.MANAGE_PROJECT
        )
        body = validated(FreezeIn, request.data)
        dataset = datasets.dataset_freeze(
            project=project,
            selection=datasets.Selection(body["institutions"], body["series"], body["cohort"]),
            held_out_institutions=body["held_out_institutions"],
            val_fraction=body["val_fraction"],
            test_fraction=body["test_fraction"],
            description=body["description"],
            user=request.user,
            request=request,
        )
        dataset = selectors.dataset_for(
            user=request.user, dataset_id=dataset.pk, capability=Capability.VIEW_PROJECT
        )
        return Response(DatasetOut(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    @extend_schema(operation_id="dataset_detail", responses=DatasetOut)
    def get(self, request: Request, pk: int) -> Response:
        dataset = selectors.dataset_for(
            user=request.user, dataset_id=pk, capability=Capability.VIEW_PROJECT
        )
        return Response(DatasetOut(dataset).data)


class DatasetManifestApi(APIView):
    """The version's slices as a CSV manifest for `ml_worker.training.train --data`
    (audited download)."""

    @extend_schema(
        operation_id="dataset_manifest",
        responses={(200, "text/csv"): OpenApiTypes.STR, **_ERRORS},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        dataset = selectors.dataset_for(
            user=request.user, dataset_id=pk, capability=Capability.MANAGE_PROJECT
        )
        text = datasets.dataset_manifest_export(dataset=dataset, user=request.user, request=request)
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        name = f"{dataset.project.slug}-dataset-v{dataset.number}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class ModelVersionListApi(APIView):
    @extend_schema(operation_id="model_versions_list", responses=ModelVersionOut(many=True))
    def get(self, request: Request) -> Response:
        models = selectors.model_version_list(user=request.user)
        return Response(ModelVersionOut(models, many=True).data)


class ProjectModelApi(APIView):
    """The project's promoted model version and its promotion history."""

    @extend_schema(operation_id="project_model", responses=ProjectModelOut)
    def get(self, request: Request, pk: int) -> Response:
        project = selectors.project_for(
            user=request.user, project_id=pk, capability=Capability.VIEW_PROJECT
        )
        current = registry.promotion_current(project_id=project.pk)
        data = {
            "promoted": current,
            "can_roll_back": current is not None and current.previous_id is not None,
            "history": selectors.promotion_history(project=project),
        }
        return Response(ProjectModelOut(data).data)


class ProjectModelPromoteApi(APIView):
    @extend_schema(
        operation_id="project_model_promote",
        request=PromoteIn,
        responses={201: PromotionOut, **_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        project = selectors.project_for(
            user=request.user, project_id=pk, capability=Capability.MANAGE_PROJECT
        )
        body = validated(PromoteIn, request.data)
        model = selectors.model_version_get(model_id=body["model_version"])
        promotion = registry.model_promote(
            project=project,
            model=model,
            user=request.user,
            comment=body["comment"],
            request=request,
        )
        return Response(PromotionOut(promotion).data, status=status.HTTP_201_CREATED)


class ProjectModelRollbackApi(APIView):
    """Re-promote the version that stood before the current one."""

    @extend_schema(
        operation_id="project_model_rollback",
        request=None,
        responses={201: PromotionOut, 409: OpenApiResponse(description="Nothing to roll back")},
    )
    def post(self, request: Request, pk: int) -> Response:
        project = selectors.project_for(
            user=request.user, project_id=pk, capability=Capability.MANAGE_PROJECT
        )
        promotion = registry.model_rollback(project=project, user=request.user, request=request)
        return Response(PromotionOut(promotion).data, status=status.HTTP_201_CREATED)


class ReviewQueueApi(APIView):
    """The next series for you to label or review, most useful to the model first."""

    @extend_schema(
        operation_id="project_review_queue",
        parameters=[
            OpenApiParameter("role", str, enum=["labeler", "reviewer"], required=True),
            OpenApiParameter("limit", int, required=False),
        ],
        responses={200: QueueOut, **_ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        project = selectors.project_for(
            user=request.user, project_id=pk, capability=Capability.VIEW_PROJECT
        )
        params = validated(QueueIn, request.query_params)
        require(request.user, queue.QUEUE_CAPABILITY[params["role"]], project_id=project.pk)
        items = queue.review_queue(
            user=request.user, project=project, role=params["role"], limit=params["limit"]
        )
        return Response(QueueOut({"role": params["role"], "items": items}).data)

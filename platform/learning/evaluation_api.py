"""Evaluations of model versions (training and evaluation jobs' results) and
their PNG/JSON artifacts, for members of the project they ran in (others 404)."""

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from learning import selectors
from learning.serializers import EvaluationOut
from projects.roles import Capability


class ProjectEvaluationsApi(APIView):
    @extend_schema(operation_id="project_evaluations", responses=EvaluationOut(many=True))
    def get(self, request: Request, pk: int) -> Response:
        project = selectors.project_for(
            user=request.user, project_id=pk, capability=Capability.VIEW_PROJECT
        )
        evaluations = selectors.evaluation_list(project=project)[:200]
        return Response(EvaluationOut(evaluations, many=True).data)


class EvaluationArtifactApi(APIView):
    """History plot, confusion matrices (PNG) and per-class tables (JSON)."""

    @extend_schema(
        operation_id="evaluation_artifact",
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "application/json"): OpenApiTypes.OBJECT,
            404: OpenApiResponse(description="No such artifact, or not a member"),
        },
    )
    def get(self, request: Request, pk: int, name: str) -> HttpResponse:
        evaluation = selectors.evaluation_for(user=request.user, evaluation_id=pk)
        artifact = evaluation.artifacts.filter(name=name).first()
        if artifact is None:
            raise Http404("No such artifact.")
        response = HttpResponse(bytes(artifact.data), content_type=artifact.content_type)
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

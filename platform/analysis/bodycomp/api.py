"""REST endpoints for body composition measurements:

- GET /api/v1/measurements/ and /{id}/ (VIEW_RESULTS, institution-scoped;
  filters project, institution (id or code), sex, age_band, level,
  review_status, model_version, status);
- GET /api/v1/measurements/export.{csv,xlsx,parquet} (EXPORT_RESULTS: analysts;
  same filters; audited with the row count); `export.csv?dictionary=1` is the
  data dictionary (also the XLSX "dictionary" sheet and Parquet metadata)."""

from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.bodycomp.selectors import MeasurementFilters, measurement_filter, measurement_list
from analysis.bodycomp.services import measurements_export
from analysis.models import BodyCompositionMeasurement

FILTER_PARAMETERS = [
    OpenApiParameter(name, str, description=text)
    for name, text in (
        ("project", "Project id"),
        ("institution", "Institution id or code"),
        ("sex", "F, M or O"),
        ("age_band", "<40, 40-49, 50-59, 60-69, 70-79, 80+"),
        ("level", "Spine level, e.g. L3"),
        (
            "review_status",
            "Review state of the series' labels: open, submitted, verified, returned",
        ),
        ("model_version", "Segmentation model version"),
        ("status", "Row status: ok or an issue code"),
        ("latest", "1: only the newest job's row per series and level"),
    )
]


class MeasurementSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="series.study.project_id", read_only=True)
    institution = serializers.CharField(source="series.study.institution.code", read_only=True)
    patient_sex = serializers.CharField(source="series.study.patient_sex", read_only=True)
    patient_age_years = serializers.IntegerField(
        source="series.study.patient_age_years", read_only=True, allow_null=True
    )

    class Meta:
        model = BodyCompositionMeasurement
        exclude = ["masks"]
        read_only_fields = [f.name for f in BodyCompositionMeasurement._meta.fields]


@extend_schema(parameters=FILTER_PARAMETERS)
class MeasurementViewSet(viewsets.ReadOnlyModelViewSet):
    """Muscle and fat per (job, level) with status, issues, flags (with their
    citations) and provenance. A null value always comes with a non-ok status."""

    serializer_class = MeasurementSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["created_at", "level", "smi_cm2_m2"]

    def get_queryset(self) -> Any:
        filters = MeasurementFilters.from_query(self.request.query_params)
        return measurement_filter(measurement_list(user=self.request.user), filters)


class DownloadRenderer(BaseRenderer):
    """Lets scripts that send `Accept: text/csv` (or any type) through content
    negotiation; the view returns the file itself."""

    media_type = "*/*"
    format = "download"
    charset = None
    render_style = "binary"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> Any:
        return data


class MeasurementExportApi(APIView):
    renderer_classes = [JSONRenderer, DownloadRenderer]

    @extend_schema(
        operation_id="measurements_export",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("dictionary", bool, description="CSV only: the data dictionary"),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="CSV, XLSX (2 sheets) or Parquet"
            ),
            403: OpenApiResponse(description="Not an analyst"),
        },
    )
    def get(self, request: Request, fmt: str) -> HttpResponse:
        download = measurements_export(
            user=request.user,
            filters=MeasurementFilters.from_query(request.query_params),
            fmt=fmt,
            dictionary=request.query_params.get("dictionary") in ("1", "true"),
            request=request,
        )
        response = HttpResponse(download.content, content_type=download.content_type)
        response["Content-Disposition"] = f'attachment; filename="{download.filename}"'
        response["Cache-Control"] = "no-store"
        response["X-Row-Count"] = str(download.rows)
        return response

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        # Errors are JSON whatever the client accepts.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

"""GET /api/v1/series-levels/{id}/cam/{slice}.png: the class activation map of
one slice, for the viewer's overlay. CAMs are derived from pixels, so they need
VIEW_IMAGES and every request is audited like a DICOMweb proxy read: one
image_accessed event with status, outcome and bytes sent, refusals included."""

from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import selectors
from analysis.cams import cam_slice, png_gray
from analysis.models import SeriesLevels
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import NotFound
from projects.access import require
from projects.roles import Capability

_OUTCOMES = {401: "unauthenticated", 403: "denied", 404: "not_found", 405: "method_not_allowed"}
CACHE_CONTROL = "private, max-age=600"  # immutable per result; private: per-user access


class PngRenderer(BaseRenderer):
    """Lets clients that accept only image/png through content negotiation."""

    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> Any:
        return data


class SeriesLevelsCamApi(APIView):
    renderer_classes = [JSONRenderer, PngRenderer]
    levels: SeriesLevels | None = None

    @extend_schema(
        operation_id="series_levels_cam",
        responses={
            (200, "image/png"): OpenApiResponse(
                OpenApiTypes.BINARY, description="8-bit grayscale PNG, h × w of the stored maps"
            ),
            403: OpenApiResponse(description="No permission to view images"),
            404: OpenApiResponse(description="Unknown result or slice index out of range"),
        },
    )
    def get(self, request: Request, pk: int, slice_index: int) -> HttpResponse:
        levels = (
            selectors.series_levels_list(user=request.user)
            .select_related("series__study")
            .filter(pk=pk)
            .first()
        )
        if levels is None:
            raise NotFound("Not found.")
        self.levels = levels
        study = levels.series.study
        require(
            request.user,
            Capability.VIEW_IMAGES,
            project_id=study.project_id,
            institution_id=study.institution_id,
        )
        try:
            png = png_gray(cam_slice(levels, slice_index))
        except IndexError:
            raise NotFound("This result has no class activation map for that slice.") from None
        self._audit(request, status=200, outcome="ok", sent=len(png))
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = CACHE_CONTROL
        return response

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        # Errors are JSON even for a client that accepts only PNG.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        status = response.status_code
        self._audit(self.request, status=status, outcome=_OUTCOMES.get(status, "error"))
        return response

    def _audit(self, request: Request, *, status: int, outcome: str, sent: int = 0) -> None:
        levels = self.levels  # None when the result is not visible: reveal nothing
        audit_record(
            action=AuditAction.IMAGE_ACCESSED,
            actor=request.user,
            obj=levels,
            project_id=levels.series.study.project_id if levels is not None else None,
            request=request,
            detail={
                "resource": "cam",
                "series_levels": str(self.kwargs.get("pk", "")),
                "slice": str(self.kwargs.get("slice_index", "")),
                "method": request.method,
                "status": status,
                "outcome": outcome,
                "bytes": sent,
            },
        )

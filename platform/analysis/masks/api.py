"""Mask endpoints of the viewer (see analysis.masks):

- GET  /api/v1/series/{id}/masks/            latest measurement per level, with masks
- GET  /api/v1/measurements/{id}/masks/      one measurement's masks
- POST /api/v1/measurements/{id}/masks/      save a correction (LABEL)
- POST /api/v1/measurements/{id}/masks/undo/ undo the latest correction (LABEL)
- GET  /api/v1/measurements/{id}/masks/history/ revisions and review events
- POST /api/v1/measurements/{id}/masks/submit/  put up for review (LABEL)
- POST /api/v1/measurements/{id}/masks/review/  verify or return (REVIEW)

Reading masks needs VIEW_IMAGES (they are pixels); a measurement or series
the user may not see is 404, a missing capability 403."""

from typing import Any

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.masks import selectors, services
from annotations.models import ReviewAction
from annotations.selectors import series_for_labels
from core.errors import ApplicationError
from core.validation import validated
from projects.roles import Capability

_ERRORS = {
    400: OpenApiResponse(description="Bad mask (shape, values, encoding, size) or body"),
    403: OpenApiResponse(description="Missing capability"),
    404: OpenApiResponse(description="Measurement not visible"),
    409: OpenApiResponse(description="Stale base_revision or nothing to undo"),
    423: OpenApiResponse(description="Masks verified: locked"),
}


class MaskSliceIn(serializers.Serializer):
    sop_instance_uid = serializers.CharField(max_length=64)
    shape = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=2, max_length=2
    )
    data = serializers.CharField(trim_whitespace=False, help_text="zlib+base64 uint8 label map")


class MaskCorrectIn(serializers.Serializer):
    base_revision = serializers.IntegerField(min_value=0)
    slices = MaskSliceIn(many=True, allow_empty=False)


class MaskUndoIn(serializers.Serializer):
    base_revision = serializers.IntegerField(min_value=0)


class MaskSubmitIn(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class MaskReviewIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[ReviewAction.VERIFY, ReviewAction.RETURN])
    comment = serializers.CharField(required=False, allow_blank=True, default="")


def _body(serializer_class: type, request: Request) -> dict[str, Any]:
    try:
        data = request.data
    except RequestDataTooBig as exc:
        raise ApplicationError(
            "The request body is too large; send only the painted slices."
        ) from exc
    return validated(serializer_class, data)


def _row(request: Request, pk: int, capability: Capability | None) -> Any:
    return selectors.measurement_for_masks(
        user=request.user, measurement_id=pk, capability=capability
    )


def _out(request: Request, row: Any) -> Response:
    return Response(
        {**selectors.mask_data(row), "permissions": selectors.permissions(request.user, row.series)}
    )


class SeriesMasksApi(APIView):
    """The tissue masks of the series' latest measurement per level."""

    @extend_schema(operation_id="series_masks", responses={200: dict, 403: _ERRORS[403]})
    def get(self, request: Request, pk: int) -> Response:
        series = series_for_labels(user=request.user, series_id=pk)
        selectors.require_on_series(request.user, Capability.VIEW_IMAGES, series)
        rows = selectors.latest_for_series(series)
        return Response(
            {
                "series": series.pk,
                "measurements": [selectors.mask_data(r) for r in rows],
                "permissions": selectors.permissions(request.user, series),
            }
        )


class MeasurementMasksApi(APIView):
    """Read one measurement's masks, or save a correction of some of its slices
    (the level is then measured again from the corrected masks)."""

    @extend_schema(operation_id="measurement_masks", responses={200: dict, **_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return _out(request, _row(request, pk, Capability.VIEW_IMAGES))

    @extend_schema(
        operation_id="measurement_masks_correct",
        request=MaskCorrectIn,
        responses={200: dict, **_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        row = _row(request, pk, Capability.LABEL)
        body = _body(MaskCorrectIn, request)
        row = services.masks_correct(
            measurement=row,
            user=request.user,
            request=request,
            base_revision=body["base_revision"],
            slices=[dict(s) for s in body["slices"]],
        )
        return _out(request, row)


class MeasurementMasksUndoApi(APIView):
    @extend_schema(
        operation_id="measurement_masks_undo", request=MaskUndoIn, responses={200: dict, **_ERRORS}
    )
    def post(self, request: Request, pk: int) -> Response:
        row = _row(request, pk, Capability.LABEL)
        body = _body(MaskUndoIn, request)
        row = services.masks_undo(measurement=row, user=request.user, request=request, **body)
        return _out(request, row)


class MeasurementMasksHistoryApi(APIView):
    @extend_schema(operation_id="measurement_masks_history", responses={200: dict})
    def get(self, request: Request, pk: int) -> Response:
        row = _row(request, pk, None)
        return Response({"measurement": row.pk, "entries": selectors.mask_history(row)})


class MeasurementMasksSubmitApi(APIView):
    @extend_schema(
        operation_id="measurement_masks_submit",
        request=MaskSubmitIn,
        responses={200: dict, **_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        row = _row(request, pk, Capability.LABEL)
        body = _body(MaskSubmitIn, request)
        row = services.masks_submit(measurement=row, user=request.user, request=request, **body)
        return _out(request, row)


class MeasurementMasksReviewApi(APIView):
    @extend_schema(
        operation_id="measurement_masks_review",
        request=MaskReviewIn,
        responses={200: dict, **_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        row = _row(request, pk, Capability.REVIEW)
        body = _body(MaskReviewIn, request)
        row = services.masks_review(measurement=row, user=request.user, request=request, **body)
        return _out(request, row)

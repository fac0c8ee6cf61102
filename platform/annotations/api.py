"""Label correction and review endpoints of the viewer, under
/api/v1/series/{id}/labels/. Reads need VIEW_RESULTS on the series (else 404);
edits, undo and submission need LABEL, decisions REVIEW (else 403)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import selectors, services
from annotations.serializers import (
    EditIn,
    HistoryOut,
    ReviewIn,
    ReviewOut,
    SeriesLabelsOut,
    SubmitIn,
    TrackOut,
    UndoIn,
)
from core.validation import validated
from imaging.models import Series
from projects.access import require
from projects.roles import Capability

_WRITE_ERRORS = {
    400: OpenApiResponse(description="Bad range, label or body"),
    403: OpenApiResponse(description="Missing capability"),
    404: OpenApiResponse(description="Series not visible"),
    409: OpenApiResponse(description="Stale base_revision or nothing to undo"),
    423: OpenApiResponse(description="Series verified: labels locked"),
}


def _series(request: Request, series_id: int, capability: Capability | None = None) -> Series:
    series = selectors.series_for_labels(user=request.user, series_id=series_id)
    if capability is not None:
        require(
            request.user,
            capability,
            project_id=series.study.project_id,
            institution_id=series.study.institution_id,
        )
    return series


class SeriesLabelsApi(APIView):
    """Everything the viewer shows about a series' levels: the model result,
    every labeler's track, the review state, agreement and your permissions."""

    @extend_schema(operation_id="series_labels", responses=SeriesLabelsOut)
    def get(self, request: Request, pk: int) -> Response:
        series = _series(request, pk)
        return Response(
            SeriesLabelsOut(selectors.series_labels(user=request.user, series=series)).data
        )


class LabelEditApi(APIView):
    """Assign a label (null: unlabeled; "disc") to an inclusive slice range of
    your own track, created from the model's levels on your first edit."""

    @extend_schema(
        operation_id="series_labels_edit",
        request=EditIn,
        responses={200: TrackOut, **_WRITE_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        series = _series(request, pk, Capability.LABEL)
        body = validated(EditIn, request.data)
        track = services.labels_edit(series=series, user=request.user, request=request, **body)
        return Response(TrackOut(selectors.track_data(track)).data)


class LabelUndoApi(APIView):
    """Revert your latest edit not yet undone, as a new revision."""

    @extend_schema(
        operation_id="series_labels_undo",
        request=UndoIn,
        responses={200: TrackOut, **_WRITE_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        series = _series(request, pk, Capability.LABEL)
        body = validated(UndoIn, request.data)
        track = services.labels_undo(series=series, user=request.user, request=request, **body)
        return Response(TrackOut(selectors.track_data(track)).data)


class LabelHistoryApi(APIView):
    """Every edit of every track and every review event, oldest first."""

    @extend_schema(operation_id="series_labels_history", responses=HistoryOut)
    def get(self, request: Request, pk: int) -> Response:
        series = _series(request, pk)
        entries = selectors.labels_history(series=series)
        return Response(HistoryOut({"series": series.pk, "entries": entries}).data)


class LabelSubmitApi(APIView):
    """Put your track up for review (your track is the model's levels if you made no edit)."""

    @extend_schema(
        operation_id="series_labels_submit",
        request=SubmitIn,
        responses={200: ReviewOut, **_WRITE_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        series = _series(request, pk, Capability.LABEL)
        body = validated(SubmitIn, request.data)
        review = services.labels_submit(series=series, user=request.user, request=request, **body)
        return Response(ReviewOut(selectors.review_data(review)).data)


class LabelReviewApi(APIView):
    """Verify a track (locks the series' labels) or return it with a comment."""

    @extend_schema(
        operation_id="series_labels_review",
        request=ReviewIn,
        responses={200: ReviewOut, **_WRITE_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        series = _series(request, pk, Capability.REVIEW)
        body = validated(ReviewIn, request.data)
        review = services.labels_review(
            series=series,
            user=request.user,
            decision=body["decision"],
            track_id=body["track"],
            comment=body["comment"],
            request=request,
        )
        return Response(ReviewOut(selectors.review_data(review)).data)

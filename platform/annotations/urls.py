"""Routes below /api/v1/ (included by config.api_urls, before the router)."""

from django.urls import path

from annotations import api

urlpatterns = [
    path("series/<int:pk>/labels/", api.SeriesLabelsApi.as_view(), name="series-labels"),
    path(
        "series/<int:pk>/labels/edits/",
        api.LabelEditApi.as_view(),
        name="series-labels-edits",
    ),
    path("series/<int:pk>/labels/undo/", api.LabelUndoApi.as_view(), name="series-labels-undo"),
    path(
        "series/<int:pk>/labels/history/",
        api.LabelHistoryApi.as_view(),
        name="series-labels-history",
    ),
    path(
        "series/<int:pk>/labels/submit/",
        api.LabelSubmitApi.as_view(),
        name="series-labels-submit",
    ),
    path(
        "series/<int:pk>/labels/review/",
        api.LabelReviewApi.as_view(),
        name="series-labels-review",
    ),
]

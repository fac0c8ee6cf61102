"""Mask routes below /api/v1/ (included by config.api_urls, before the router)."""

from django.urls import path

from analysis.masks import api

urlpatterns = [
    path("series/<int:pk>/masks/", api.SeriesMasksApi.as_view(), name="series-masks"),
    path(
        "measurements/<int:pk>/masks/",
        api.MeasurementMasksApi.as_view(),
        name="measurement-masks",
    ),
    path(
        "measurements/<int:pk>/masks/undo/",
        api.MeasurementMasksUndoApi.as_view(),
        name="measurement-masks-undo",
    ),
    path(
        "measurements/<int:pk>/masks/history/",
        api.MeasurementMasksHistoryApi.as_view(),
        name="measurement-masks-history",
    ),
    path(
        "measurements/<int:pk>/masks/submit/",
        api.MeasurementMasksSubmitApi.as_view(),
        name="measurement-masks-submit",
    ),
    path(
        "measurements/<int:pk>/masks/review/",
        api.MeasurementMasksReviewApi.as_view(),
        name="measurement-masks-review",
    ),
]

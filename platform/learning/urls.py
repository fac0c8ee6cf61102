"""Routes below /api/v1/ (included by config.api_urls, before the router)."""

from django.urls import path

from learning import api, evaluation_api

urlpatterns = [
    path(
        "projects/<int:pk>/datasets/",
        api.ProjectDatasetsApi.as_view(),
        name="project-datasets",
    ),
    path("datasets/<int:pk>/", api.DatasetDetailApi.as_view(), name="dataset-detail"),
    path(
        "datasets/<int:pk>/manifest.csv",
        api.DatasetManifestApi.as_view(),
        name="dataset-manifest",
    ),
    path("model-versions/", api.ModelVersionListApi.as_view(), name="modelversion-list"),
    path("projects/<int:pk>/model/", api.ProjectModelApi.as_view(), name="project-model"),
    path(
        "projects/<int:pk>/model/promote/",
        api.ProjectModelPromoteApi.as_view(),
        name="project-model-promote",
    ),
    path(
        "projects/<int:pk>/model/rollback/",
        api.ProjectModelRollbackApi.as_view(),
        name="project-model-rollback",
    ),
    path(
        "projects/<int:pk>/review-queue/",
        api.ReviewQueueApi.as_view(),
        name="project-review-queue",
    ),
    path(
        "projects/<int:pk>/evaluations/",
        evaluation_api.ProjectEvaluationsApi.as_view(),
        name="project-evaluations",
    ),
    path(
        "evaluations/<int:pk>/artifacts/<str:name>",
        evaluation_api.EvaluationArtifactApi.as_view(),
        name="evaluation-artifact",
    ),
]

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from accounts.api import InstitutionViewSet, TokenView, me
from analysis.api import JobViewSet, SeriesLevelsViewSet
from analysis.bodycomp.api import MeasurementExportApi, MeasurementViewSet
from analysis.cam_api import SeriesLevelsCamApi
from audit.api import AuditEventViewSet
from imaging.api import SeriesViewSet, StudyViewSet, UploadView
from projects.api import CohortViewSet, MembershipViewSet, ProjectViewSet

router = DefaultRouter()
router.register("institutions", InstitutionViewSet, basename="institution")
router.register("projects", ProjectViewSet, basename="project")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("cohorts", CohortViewSet, basename="cohort")
router.register("studies", StudyViewSet, basename="study")
router.register("series", SeriesViewSet, basename="series")
router.register("jobs", JobViewSet, basename="job")
router.register("series-levels", SeriesLevelsViewSet, basename="serieslevels")
router.register("measurements", MeasurementViewSet, basename="measurement")
router.register("audit-events", AuditEventViewSet, basename="auditevent")

urlpatterns = [
    path("me/", me, name="me"),
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("uploads/", UploadView.as_view(), name="upload"),
    path(
        "series-levels/<int:pk>/cam/<int:slice_index>.png",
        SeriesLevelsCamApi.as_view(),
        name="serieslevels-cam",
    ),
    # Before the router: its format-suffix routes would read "export" as an id.
    path(
        "measurements/export.<str:fmt>",
        MeasurementExportApi.as_view(),
        name="measurement-export",
    ),
    path("", include("annotations.urls")),
    path("", include("learning.urls")),
    path("", include("analysis.masks.urls")),
    path("", include(router.urls)),
]

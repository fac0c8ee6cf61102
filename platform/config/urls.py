from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import LoginView
from analysis.bodycomp import pages as bodycomp_pages
from core.views import healthz
from learning import pages as learning_pages
from projects import pages, viewer_page

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("login/", LoginView.as_view(), name="login"),
    path("oidc/", include("accounts.oidc_urls")),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("config.api_urls")),
    path("dicomweb/", include("imaging.proxy_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's script as a file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("", pages.project_list, name="project-list"),
    path("projects/<int:pk>/", pages.project_detail, name="project-detail"),
    path("projects/<int:pk>/upload/", pages.project_upload, name="project-upload"),
    path("projects/<int:pk>/cohort/", bodycomp_pages.cohort_page, name="cohort"),
    path("projects/<int:pk>/cohort/smi.png", bodycomp_pages.cohort_smi_png, name="cohort-smi-png"),
    path("projects/<int:pk>/models/", learning_pages.models_page, name="models"),
    path(
        "projects/<int:pk>/models/report.csv", learning_pages.models_report_csv, name="models-csv"
    ),
    path("projects/<int:pk>/models/train/", learning_pages.models_train, name="models-train"),
    path(
        "projects/<int:pk>/models/evaluate/", learning_pages.models_evaluate, name="models-evaluate"
    ),
    path(
        "projects/<int:pk>/series/<int:series_pk>/viewer/",
        viewer_page.series_viewer,
        name="series-viewer",
    ),
]

"""The cohort analytics page, /projects/<id>/cohort/, and its plots. Same
rules as the API: a project the user is not a member of is a 404, and every
row is scoped by projects.access (VIEW_RESULTS) before filtering. The page has
no script (strict CSP): a GET form, a table and server-drawn PNG plots."""

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from analysis.bodycomp.plots import smi_distribution_png
from analysis.bodycomp.selectors import (
    AGE_BANDS,
    REVIEW_STATUSES,
    SEXES,
    MeasurementFilters,
    measurement_filter,
    measurement_list,
)
from core.errors import ApplicationError
from projects.access import ProjectAccess, access_for
from projects.roles import Capability
from projects.selectors import project_list

TABLE_ROWS = 500


def _project_filters(
    request: HttpRequest, pk: int
) -> tuple[Any, ProjectAccess, MeasurementFilters]:
    project = project_list(user=request.user).filter(pk=pk).first()
    access = access_for(request.user, pk)
    if project is None or access is None:
        raise Http404("No such project")
    if not access.can(Capability.VIEW_RESULTS):
        raise PermissionDenied("You may not view results in this project.")
    # The page shows the newest result per series and level unless asked otherwise.
    query = {"latest": "1", **{k: v for k, v in request.GET.items() if k != "project"}}
    try:
        filters = MeasurementFilters.from_query({**query, "project": str(pk)})
    except ApplicationError:
        filters = MeasurementFilters(project=pk, latest=True)  # an edited URL: no filters
    return project, access, filters


def _distinct(queryset: Any, field: str) -> list[str]:
    return sorted(queryset.order_by().values_list(field, flat=True).distinct())


@login_required
def cohort_page(request: HttpRequest, pk: int) -> HttpResponse:
    project, access, filters = _project_filters(request, pk)
    visible = measurement_list(user=request.user).filter(series__study__project_id=pk)
    rows = measurement_filter(visible, filters)
    levels = _distinct(rows, "level")
    query = {k: v for k, v in filters.as_query().items() if k != "project"}
    query["latest"] = "1" if filters.latest else "0"  # explicit: the plots default to 1
    context = {
        "project": project,
        "filters": filters,
        "rows": rows[:TABLE_ROWS],
        "row_count": rows.count(),
        "table_limit": TABLE_ROWS,
        "choices": {
            "institution": sorted(project.institutions.values_list("code", flat=True)),
            "sex": SEXES,
            "age_band": list(AGE_BANDS),
            "level": _distinct(visible, "level"),
            "review_status": REVIEW_STATUSES,
            "model_version": _distinct(visible, "model_version"),
        },
        "plots": [
            (
                level,
                reverse("cohort-smi-png", args=[pk]) + "?" + urlencode({**query, "level": level}),
            )
            for level in levels
        ],
        "exports": [
            (
                fmt,
                reverse("measurement-export", args=[fmt])
                + "?"
                + urlencode({**query, "project": pk}),
            )
            for fmt in ("csv", "xlsx", "parquet")
        ]
        if access.can(Capability.EXPORT_RESULTS)
        else [],
        "dictionary_url": reverse("measurement-export", args=["csv"]) + "?dictionary=1",
    }
    return render(request, "projects/cohort.html", context)


@login_required
def cohort_smi_png(request: HttpRequest, pk: int) -> HttpResponse:
    """SMI per sex and centre at `level` (required), for the page's filters."""
    _, _, filters = _project_filters(request, pk)
    if not filters.level:
        raise Http404("A level is required.")
    rows = measurement_filter(measurement_list(user=request.user), filters)
    points = rows.values_list("series__study__patient_sex", "series__study__institution__code",
                              "smi_cm2_m2")  # fmt: skip
    png = smi_distribution_png(points, level=filters.level)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response

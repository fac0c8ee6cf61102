"""The series viewer page (frontend/, built by Vite). Same rules as the API:
a project or series the user may not see is a 404; a member who may see the
series but not its images gets a page that says so and loads no viewer code.
The DICOMweb proxy enforces image rights again on every pixel request."""

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from analysis.selectors import series_known_slices
from imaging.models import Series
from imaging.selectors import series_list
from projects import selectors
from projects.access import access_for
from projects.roles import Capability


@login_required
def series_viewer(request: HttpRequest, pk: int, series_pk: int) -> HttpResponse:
    project = selectors.project_list(user=request.user).filter(pk=pk).first()
    access = access_for(request.user, pk)
    if project is None or access is None:
        raise Http404("No such project")
    series = series_list(user=request.user).filter(pk=series_pk, study__project_id=pk).first()
    if series is None:
        raise Http404("No such series")
    institution_id = series.study.institution_id
    can_view_images = access.can(Capability.VIEW_IMAGES, institution_id=institution_id)
    context = {
        "project": project,
        "series": series,
        "study": series.study,
        "can_view_images": can_view_images,
        "can_run_jobs": access.can(Capability.RUN_JOBS, institution_id=institution_id),
        "api_root": reverse("api-root").rstrip("/"),
        "dicomweb_root": reverse("dicomweb-search_studies").removesuffix("/studies"),
        "known_slices": _known_slices(series) if can_view_images else "",
    }
    status = 200 if can_view_images else 403
    return render(request, "projects/series_viewer.html", context, status=status)


def _known_slices(series: Series) -> str:
    """The classified slices as JSON ({"sops", "positions"}, superior first,
    with the index's rows, columns and orientation when known), so that the
    viewer requests its first images at once instead of after the labels API
    and the first instance's metadata: DICOM attributes the proxy shows this
    user anyway. Empty when the series is unclassified or the result does not
    name every slice."""
    known = series_known_slices(series_id=series.pk)
    if not known or len(known[0]) != len(known[1]) or len(known[0]) < 2:
        return ""
    if series.slice_count and len(known[0]) != series.slice_count:
        return ""
    data: dict[str, Any] = {"sops": known[0], "positions": known[1]}
    if series.rows and series.columns and series.orientation:
        data |= {"rows": series.rows, "columns": series.columns, "orientation": series.orientation}
    return json.dumps(data, separators=(",", ":"))

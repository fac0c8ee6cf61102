"""The series viewer page (frontend/, built by Vite). Same rules as the API:
a project or series the user may not see is a 404; a member who may see the
series but not its images gets a page that says so and loads no viewer code.
The DICOMweb proxy enforces image rights again on every pixel request."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

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
    }
    status = 200 if can_view_images else 403
    return render(request, "projects/series_viewer.html", context, status=status)

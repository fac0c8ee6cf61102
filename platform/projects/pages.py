"""Server-rendered pages. Same selectors and checks as the API: a project the
user is not a member of is a 404, and every list is scoped to the user."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from analysis.selectors import job_list
from imaging.selectors import study_list
from learning.selectors import project_learning
from projects import selectors
from projects.access import access_for
from projects.roles import Capability


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list(user=request.user)
    return render(request, "projects/project_list.html", {"projects": projects})


@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_list(user=request.user).filter(pk=pk).first()
    access = access_for(request.user, pk)
    if project is None or access is None:
        raise Http404("No such project")
    context = {
        "project": project,
        "my_roles": sorted(access.roles),
        "can_manage": access.can(Capability.MANAGE_MEMBERS),
        "can_upload": access.can(Capability.UPLOAD, institution_id=request.user.institution_id),
        "memberships": selectors.membership_list(user=request.user).filter(project=project),
        "cohorts": selectors.cohort_list(user=request.user).filter(project=project),
        "studies": study_list(user=request.user)
        .filter(project=project)
        .prefetch_related("series", "series__levels")[:200],
        "jobs": job_list(user=request.user).filter(project=project)[:50],
        "learning": project_learning(project=project, access=access),
    }
    return render(request, "projects/project_detail.html", context)


@login_required
def project_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload page: the browser sends the files (or zips) to the upload API in
    STOW-style batches, each file with its own progress bar and report row
    (static/js/upload.js)."""
    project = selectors.project_list(user=request.user).filter(pk=pk).first()
    access = access_for(request.user, pk)
    if project is None or access is None:
        raise Http404("No such project")
    if not access.can(Capability.UPLOAD, institution_id=request.user.institution_id):
        raise PermissionDenied("Only investigators upload data.")
    return render(request, "projects/project_upload.html", {"project": project})

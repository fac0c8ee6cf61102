"""Server-rendered pages. Same selectors and checks as the API: a project the
user is not a member of is a 404, and every list is scoped to the user."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from analysis.selectors import job_list
from imaging.selectors import study_list
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
        "memberships": selectors.membership_list(user=request.user).filter(project=project),
        "cohorts": selectors.cohort_list(user=request.user).filter(project=project),
        "studies": study_list(user=request.user).filter(project=project)[:200],
        "jobs": job_list(user=request.user).filter(project=project)[:50],
    }
    return render(request, "projects/project_detail.html", context)

"""Learning-loop pages: the per-centre model report (/projects/<id>/models/,
any member), its CSV (audited), and the small forms a project admin starts
training and evaluation jobs with. No script on the page (strict CSP); the
jobs table on the project page follows progress with static/js/jobs.js."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from analysis.services import job_start
from core.errors import ApplicationError
from learning.jobs import PRESETS
from learning.models import ModelStatus, ModelVersion
from learning.report import build_report, candidates, report_csv
from learning.selectors import dataset_list, evaluation_list
from projects.access import ProjectAccess, access_for
from projects.models import ResearchProject
from projects.roles import Capability
from projects.selectors import project_list


def _project(request: HttpRequest, pk: int, capability: Capability) -> tuple[Any, ProjectAccess]:
    project = project_list(user=request.user).filter(pk=pk).first()
    access = access_for(request.user, pk)
    if project is None or access is None:
        raise Http404("No such project")
    if not access.can(capability):
        raise PermissionDenied("You may not do this in this project.")
    return project, access


@login_required
def models_page(request: HttpRequest, pk: int) -> HttpResponse:
    project, access = _project(request, pk, Capability.VIEW_RESULTS)
    report = build_report(
        project=project,
        dataset_id=request.GET.get("dataset"),
        candidate_id=request.GET.get("candidate"),
    )
    query = {"dataset": report.dataset.pk if report.dataset else ""}
    query["candidate"] = report.candidate.pk if report.candidate else ""
    context = {
        "project": project,
        "report": report,
        "datasets": list(dataset_list(project=project)[:50]),
        "candidates": candidates(project),
        "evaluations": list(evaluation_list(project=project)[:30]),
        "models": list(ModelVersion.objects.exclude(status=ModelStatus.RETIRED)[:50]),
        "presets": PRESETS,
        "can_manage": access.can(Capability.MANAGE_PROJECT),
        "csv_query": f"?dataset={query['dataset']}&candidate={query['candidate']}",
    }
    return render(request, "projects/models.html", context)


@login_required
def models_report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    project, _ = _project(request, pk, Capability.VIEW_RESULTS)
    report = build_report(
        project=project,
        dataset_id=request.GET.get("dataset"),
        candidate_id=request.GET.get("candidate"),
    )
    text = report_csv(project=project, report=report, user=request.user, request=request)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-model-report.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


def _number(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _start(request: HttpRequest, project: ResearchProject, job_type: str, params: dict) -> None:
    try:
        job = job_start(
            project=project,
            job_type=job_type,
            series=None,
            parameters={k: v for k, v in params.items() if v is not None},
            created_by=request.user,
            request=request,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Job #{job.pk} ({job_type}) queued.")


@login_required
@require_POST
def models_train(request: HttpRequest, pk: int) -> HttpResponse:
    project, _ = _project(request, pk, Capability.MANAGE_PROJECT)
    params = {
        "dataset": _number(request.POST.get("dataset")),
        "preset": request.POST.get("preset") or "demo",
        "epochs": _number(request.POST.get("epochs")),
    }
    _start(request, project, "train_classifier", params)
    return redirect(reverse("project-detail", args=[pk]) + "#jobs")


@login_required
@require_POST
def models_evaluate(request: HttpRequest, pk: int) -> HttpResponse:
    project, _ = _project(request, pk, Capability.MANAGE_PROJECT)
    params = {
        "dataset": _number(request.POST.get("dataset")),
        "model": _number(request.POST.get("model")),
    }
    _start(request, project, "evaluate_classifier", params)
    return redirect(reverse("project-detail", args=[pk]) + "#jobs")

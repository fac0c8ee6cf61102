"""Reads of the learning loop: projects as the caller may act on them, dataset
versions, model versions, the promoted model, and the parameters a
classification job takes from the promotion."""

from typing import Any

from django.db.models import Count, QuerySet

from core.errors import ApplicationError, NotFound
from imaging.models import Series
from learning.models import (
    DatasetVersion,
    ModelEvaluation,
    ModelPromotion,
    ModelStatus,
    ModelVersion,
)
from learning.registry import promotion_current
from projects.access import ProjectAccess, Scope, access_for, accesses_for, require
from projects.models import ResearchProject
from projects.roles import Capability


def project_for(*, user: Any, project_id: int, capability: Capability) -> ResearchProject:
    """The project if the user is a member (else 404) holding `capability` in
    some scope (else 403)."""
    if access_for(user, project_id) is None:
        raise NotFound("Not found.")
    require(user, capability, project_id=project_id)
    return ResearchProject.objects.get(pk=project_id)


def dataset_list(*, project: ResearchProject) -> QuerySet[DatasetVersion]:
    return (
        DatasetVersion.objects.filter(project=project)
        .select_related("created_by")
        .annotate(series_count=Count("rows"))
        .order_by("-number")
    )


def dataset_for(*, user: Any, dataset_id: int, capability: Capability) -> DatasetVersion:
    """A dataset version of a project the user belongs to (else 404), if the
    user holds `capability` there (else 403)."""
    dataset = (
        DatasetVersion.objects.select_related("project", "created_by")
        .annotate(series_count=Count("rows"))
        .filter(pk=dataset_id, project_id__in=list(accesses_for(user)))
        .first()
    )
    if dataset is None:
        raise NotFound("Not found.")
    require(user, capability, project_id=dataset.project_id)
    return dataset


def model_version_list(*, user: Any) -> QuerySet[ModelVersion]:
    """Model versions are platform-wide; members of any project may read them."""
    qs = ModelVersion.objects.select_related("training_dataset", "training_dataset__project")
    return qs if accesses_for(user) else qs.none()


def model_version_get(*, model_id: int) -> ModelVersion:
    model = ModelVersion.objects.filter(pk=model_id).first()
    if model is None:
        raise ApplicationError("No such model version.", extra={"model_version": model_id})
    return model


def promotion_history(*, project: ResearchProject, limit: int = 50) -> list[ModelPromotion]:
    return list(
        ModelPromotion.objects.filter(project=project)
        .select_related("model_version", "actor")
        .order_by("-created_at", "-id")[:limit]
    )


def classify_parameters(*, series: Series | None, parameters: dict[str, Any]) -> dict[str, Any]:
    """classify_levels parameters: the project's promoted version unless the
    starter names a synced version; the worker loads exactly that version.
    Without a promotion the worker's current version is used, as before."""
    parameters = dict(parameters)
    requested = parameters.get("model_version")
    if requested is not None:
        model = ModelVersion.objects.filter(version=str(requested)).order_by("-id").first()
        if model is None or model.status in (ModelStatus.FAILED, ModelStatus.RETIRED):
            raise ApplicationError(
                f"Model version {requested!r} is not a usable registered version.",
                extra={"model_version": requested},
            )
        return {**parameters, "model_version": model.version, "model_name": model.name}
    if series is None:
        return parameters
    current = promotion_current(project_id=series.study.project_id)
    if current is None:
        return parameters
    model = current.model_version
    return {**parameters, "model_version": model.version, "model_name": model.name}


def project_learning(*, project: ResearchProject, access: ProjectAccess) -> dict[str, Any]:
    """The project page's learning-loop card: promoted model, recent dataset
    versions, and which review queues the user has."""
    return {
        "promoted": promotion_current(project_id=project.pk),
        "datasets": list(dataset_list(project=project)[:10]),
        "can_manage": access.can(Capability.MANAGE_PROJECT),
        "presets": ("demo", "reference"),
        "queues": [
            role
            for role, capability in (("labeler", Capability.LABEL), ("reviewer", Capability.REVIEW))
            if access.scope(capability) is not Scope.NONE
        ],
    }


def evaluation_list(*, project: ResearchProject) -> QuerySet[ModelEvaluation]:
    return (
        ModelEvaluation.objects.filter(project=project)
        .select_related("model_version", "dataset")
        .prefetch_related("artifacts")
        .defer("reports")
    )


def evaluation_for(*, user: Any, evaluation_id: int) -> ModelEvaluation:
    """An evaluation of a project the user belongs to (else 404)."""
    evaluation = (
        ModelEvaluation.objects.select_related("model_version", "dataset")
        .filter(pk=evaluation_id, project_id__in=list(accesses_for(user)))
        .first()
    )
    if evaluation is None:
        raise NotFound("Not found.")
    require(user, Capability.VIEW_PROJECT, project_id=evaluation.project_id)
    return evaluation

"""Writes to projects, memberships and cohorts. Callers have already checked
the actor's capability; these functions enforce the data invariants and audit."""

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from accounts.models import Institution
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import ApplicationError, Conflict
from imaging.selectors import studies_matching
from projects.models import Cohort, ProjectMembership, ResearchProject
from projects.roles import Role


@transaction.atomic
def project_create(
    *,
    name: str,
    slug: str,
    description: str,
    institutions: list[Institution],
    created_by: Any,
    request: HttpRequest | None = None,
) -> ResearchProject:
    """Create a project; its creator becomes its first project admin."""
    if created_by.institution_id is None:
        raise ApplicationError("The project creator must belong to an institution.")
    project = ResearchProject.objects.create(
        name=name, slug=slug, description=description, created_by=created_by
    )
    project.institutions.set({*institutions, created_by.institution})
    audit_record(
        action=AuditAction.PROJECT_CREATED,
        actor=created_by,
        obj=project,
        project_id=project.pk,
        request=request,
    )
    membership_grant(
        project=project,
        user=created_by,
        role=Role.PROJECT_ADMIN,
        granted_by=created_by,
        request=request,
    )
    return project


@transaction.atomic
def project_update(
    *,
    project: ResearchProject,
    actor: Any,
    data: dict[str, Any],
    request: HttpRequest | None = None,
) -> ResearchProject:
    institutions = data.pop("institutions", None)
    for field, value in data.items():
        setattr(project, field, value)
    project.save()
    if institutions is not None:
        _check_institutions_keep_members(project, institutions)
        project.institutions.set(institutions)
    audit_record(
        action=AuditAction.PROJECT_UPDATED,
        actor=actor,
        obj=project,
        project_id=project.pk,
        request=request,
        detail={"fields": sorted([*data, *(["institutions"] if institutions is not None else [])])},
    )
    return project


def _check_institutions_keep_members(
    project: ResearchProject, institutions: list[Institution]
) -> None:
    keep = {i.pk for i in institutions}
    orphaned = project.memberships.exclude(user__institution_id__in=keep).exists()
    if orphaned or project.studies.exclude(institution_id__in=keep).exists():
        raise Conflict("An institution with members or studies cannot leave the project.")


@transaction.atomic
def membership_grant(
    *,
    project: ResearchProject,
    user: Any,
    role: str,
    granted_by: Any,
    request: HttpRequest | None = None,
) -> ProjectMembership:
    if (
        user.institution_id is None
        or not project.institutions.filter(pk=user.institution_id).exists()
    ):
        raise ApplicationError(
            "The user's institution does not take part in this project.",
            extra={"user": user.pk},
        )
    if ProjectMembership.objects.filter(project=project, user=user, role=role).exists():
        raise Conflict("The user already holds this role in the project.")
    membership = ProjectMembership.objects.create(
        project=project, user=user, role=role, granted_by=granted_by
    )
    audit_record(
        action=AuditAction.MEMBERSHIP_GRANTED,
        actor=granted_by,
        obj=membership,
        project_id=project.pk,
        request=request,
        detail={"user": user.get_username(), "role": role},
    )
    return membership


@transaction.atomic
def membership_revoke(
    *, membership: ProjectMembership, revoked_by: Any, request: HttpRequest | None = None
) -> None:
    project = membership.project
    admins = ProjectMembership.objects.select_for_update().filter(
        project=project, role=Role.PROJECT_ADMIN
    )
    if membership.role == Role.PROJECT_ADMIN and admins.count() <= 1:
        raise Conflict("A project keeps at least one project admin.")
    detail = {"user": membership.user.get_username(), "role": membership.role}
    audit_record(
        action=AuditAction.MEMBERSHIP_REVOKED,
        actor=revoked_by,
        obj=membership,
        project_id=project.pk,
        request=request,
        detail=detail,
    )
    membership.delete()


def _apply_criteria(cohort: Cohort) -> None:
    cohort.studies.set(studies_matching(project_id=cohort.project_id, criteria=cohort.criteria))


@transaction.atomic
def cohort_create(
    *,
    project: ResearchProject,
    name: str,
    description: str,
    criteria: dict[str, Any],
    created_by: Any,
    request: HttpRequest | None = None,
) -> Cohort:
    cohort = Cohort.objects.create(
        project=project,
        name=name,
        description=description,
        criteria=criteria,
        created_by=created_by,
    )
    _apply_criteria(cohort)
    audit_record(
        action=AuditAction.COHORT_CREATED,
        actor=created_by,
        obj=cohort,
        project_id=project.pk,
        request=request,
        detail={"criteria": criteria},
    )
    return cohort


@transaction.atomic
def cohort_update(
    *, cohort: Cohort, actor: Any, data: dict[str, Any], request: HttpRequest | None = None
) -> Cohort:
    """Update name, description or criteria; the study set is re-derived, so a
    cohort always matches its recorded criteria (also used to refresh)."""
    for field, value in data.items():
        setattr(cohort, field, value)
    cohort.save()
    _apply_criteria(cohort)
    audit_record(
        action=AuditAction.COHORT_UPDATED,
        actor=actor,
        obj=cohort,
        project_id=cohort.project_id,
        request=request,
        detail={"criteria": cohort.criteria},
    )
    return cohort


@transaction.atomic
def cohort_delete(*, cohort: Cohort, actor: Any, request: HttpRequest | None = None) -> None:
    audit_record(
        action=AuditAction.COHORT_DELETED,
        actor=actor,
        obj=cohort,
        project_id=cohort.project_id,
        request=request,
        detail={"name": cohort.name},
    )
    cohort.delete()

"""Reads of projects, memberships and cohorts, limited to the user's projects."""

from typing import Any

from django.db.models import Prefetch, QuerySet

from accounts.models import Institution
from imaging.models import Study
from projects.access import accesses_for, project_ids_with, scoped_filter
from projects.models import Cohort, ProjectMembership, ResearchProject
from projects.roles import Capability

MEMBERSHIP_COLUMNS = tuple(f.name for f in ProjectMembership._meta.concrete_fields)


def project_list(*, user: Any) -> QuerySet[ResearchProject]:
    ids = project_ids_with(user, Capability.VIEW_PROJECT)
    return ResearchProject.objects.filter(pk__in=ids).prefetch_related("institutions")


def membership_list(*, user: Any) -> QuerySet[ProjectMembership]:
    ids = project_ids_with(user, Capability.VIEW_PROJECT)
    # Callers show the member's name and institution and the granter's name;
    # the project is an id.
    return (
        ProjectMembership.objects.filter(project_id__in=ids)
        .select_related("user__institution", "granted_by")
        .only(
            *MEMBERSHIP_COLUMNS,
            "user__username",
            "user__institution__code",
            "user__institution__name",
            "granted_by__username",
        )
    )


def cohort_list(*, user: Any) -> QuerySet[Cohort]:
    """Cohorts of the user's projects; each cohort's studies are only those the
    user may see, so a cohort never reveals another centre's studies."""
    ids = project_ids_with(user, Capability.VIEW_PROJECT)
    visible = Study.objects.filter(scoped_filter(user, Capability.VIEW_STUDIES)).only("id")
    return Cohort.objects.filter(project_id__in=ids).prefetch_related(
        Prefetch("studies", queryset=visible, to_attr="visible_studies")
    )


def institution_list(*, user: Any) -> QuerySet[Institution]:
    """The user's own institution and those taking part in the user's projects."""
    ids = list(accesses_for(user))
    return Institution.objects.filter(
        pk__in=Institution.objects.filter(projects__in=ids).values("pk")
    ) | Institution.objects.filter(pk=getattr(user, "institution_id", None))

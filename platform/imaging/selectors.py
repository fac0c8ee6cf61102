"""Reads of the imaging index, always filtered by what the user may see."""

from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from imaging.models import Series, Study
from projects.access import scoped_filter
from projects.roles import Capability


def study_list(*, user: Any, capability: Capability = Capability.VIEW_STUDIES) -> QuerySet[Study]:
    # series_count is a subquery, not a GROUP BY: counted for the listed page
    # only, and the paginator's COUNT(*) leaves it out.
    series_count = (
        Series.objects.filter(study_id=OuterRef("pk"))
        .order_by()
        .values("study_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Study.objects.filter(scoped_filter(user, capability))
        .select_related("institution")  # callers show its code; the project is an id
        .annotate(series_count=Coalesce(Subquery(series_count), 0))
        .order_by("-created_at", "-id")
    )


def series_list(*, user: Any, capability: Capability = Capability.VIEW_STUDIES) -> QuerySet[Series]:
    visible = scoped_filter(
        user,
        capability,
        project_field="study__project_id",
        institution_field="study__institution_id",
    )
    return Series.objects.filter(visible).select_related("study", "study__institution")


def studies_matching(*, project_id: int, criteria: dict[str, Any]) -> QuerySet[Study]:
    """Studies of a project that satisfy cohort inclusion criteria (all optional,
    combined with AND): institutions (codes), sexes, age_min/age_max (years),
    modalities, body_parts, study_date_from/study_date_to (ISO dates)."""
    qs = Study.objects.filter(project_id=project_id)
    if criteria.get("institutions"):
        qs = qs.filter(institution__code__in=criteria["institutions"])
    if criteria.get("sexes"):
        qs = qs.filter(patient_sex__in=criteria["sexes"])
    if criteria.get("age_min") is not None:
        qs = qs.filter(patient_age_years__gte=criteria["age_min"])
    if criteria.get("age_max") is not None:
        qs = qs.filter(patient_age_years__lte=criteria["age_max"])
    if criteria.get("modalities"):
        qs = qs.filter(modality__in=criteria["modalities"])
    if criteria.get("body_parts"):
        qs = qs.filter(body_part__in=criteria["body_parts"])
    if criteria.get("study_date_from"):
        qs = qs.filter(study_date__gte=criteria["study_date_from"])
    if criteria.get("study_date_to"):
        qs = qs.filter(study_date__lte=criteria["study_date_to"])
    return qs

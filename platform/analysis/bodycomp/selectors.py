"""Reads of body composition measurements, limited to what the user may see:
rows follow their series' project and owning institution, like the studies
they describe (projects.access.scoped_filter). Filters are shared by the API,
the exports and the cohort page."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from analysis.models import BodyCompositionMeasurement
from annotations.models import ReviewStatus
from core.errors import ApplicationError
from projects.access import scoped_filter
from projects.roles import Capability

# Inclusive age bounds in years; None is open-ended.
AGE_BANDS: dict[str, tuple[int | None, int | None]] = {
    "<40": (None, 39),
    "40-49": (40, 49),
    "50-59": (50, 59),
    "60-69": (60, 69),
    "70-79": (70, 79),
    "80+": (80, None),
}
SEXES = ("F", "M", "O")
REVIEW_STATUSES = tuple(str(s) for s in ReviewStatus)


@dataclass(frozen=True)
class MeasurementFilters:
    project: int | None = None
    institution: str = ""  # id or code
    sex: str = ""
    age_band: str = ""
    level: str = ""
    review_status: str = ""
    model_version: str = ""
    status: str = ""
    latest: bool = False  # only the newest job's row per series and level

    @classmethod
    def from_query(cls, data: Mapping[str, Any]) -> "MeasurementFilters":
        """From query parameters; an unknown choice is a 400 naming the field."""
        values: dict[str, Any] = {
            k: str(data.get(k, "") or "").strip() for k in cls.__dataclass_fields__
        }
        project = values.pop("project")
        values["latest"] = values["latest"].lower() in ("1", "true", "yes")
        if project and not project.isdigit():
            raise ApplicationError("project must be a project id.", extra={"project": project})
        choices = {"sex": SEXES, "age_band": tuple(AGE_BANDS), "review_status": REVIEW_STATUSES}
        for name, allowed in choices.items():
            if values[name] and values[name] not in allowed:
                raise ApplicationError(
                    f"{name} must be one of {', '.join(allowed)}.", extra={name: values[name]}
                )
        return cls(project=int(project) if project else None, **values)

    def as_query(self) -> dict[str, str]:
        values = {k: v for k, v in asdict(self).items() if v not in (None, "", False)}
        return {k: "1" if v is True else str(v) for k, v in values.items()}


def measurement_list(
    *, user: Any, capability: Capability = Capability.VIEW_RESULTS
) -> QuerySet[BodyCompositionMeasurement]:
    visible = scoped_filter(
        user,
        capability,
        project_field="series__study__project_id",
        institution_field="series__study__institution_id",
    )
    return (
        BodyCompositionMeasurement.objects.filter(visible)
        .select_related(
            "job",
            "series__study__institution",
            "series__study__project",
            "series__label_review__actor",
        )
        .defer("masks")
    )


def measurement_filter(
    queryset: QuerySet[BodyCompositionMeasurement], filters: MeasurementFilters
) -> QuerySet[BodyCompositionMeasurement]:
    f, qs = filters, queryset
    if f.project is not None:
        qs = qs.filter(series__study__project_id=f.project)
    if f.institution:
        key = "id" if f.institution.isdigit() else "code"
        qs = qs.filter(**{f"series__study__institution__{key}": f.institution})
    if f.sex:
        qs = qs.filter(series__study__patient_sex=f.sex)
    if f.age_band:
        low, high = AGE_BANDS[f.age_band]
        if low is not None:
            qs = qs.filter(series__study__patient_age_years__gte=low)
        if high is not None:
            qs = qs.filter(series__study__patient_age_years__lte=high)
    if f.level:
        qs = qs.filter(level=f.level)
    if f.review_status == ReviewStatus.OPEN:
        qs = qs.filter(
            Q(series__label_review__isnull=True) | Q(series__label_review__status=f.review_status)
        )
    elif f.review_status:
        qs = qs.filter(series__label_review__status=f.review_status)
    if f.model_version:
        qs = qs.filter(model_version=f.model_version)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.latest:
        newer = BodyCompositionMeasurement.objects.filter(
            series_id=OuterRef("series_id"), level=OuterRef("level"), job_id__gt=OuterRef("job_id")
        )
        qs = qs.exclude(Exists(newer))
    return qs


def age_band_of(age: int | None) -> str:
    if age is None:
        return ""
    for band, (low, high) in AGE_BANDS.items():
        if (low is None or age >= low) and (high is None or age <= high):
            return band
    return ""

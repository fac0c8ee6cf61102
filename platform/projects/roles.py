"""Project roles and what each one may do. This table is the single source of
truth for access control; permission checks ask for a Capability, never a role.

Scope: a role sees the studies of the member's own institution only, unless the
project lists that role in `cross_institution_roles` (the project shares all
participating centres' data with it)."""

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    PROJECT_ADMIN = "project_admin", "Project admin"
    INVESTIGATOR = "investigator", "Investigator"
    LABELER = "labeler", "Labeler"
    REVIEWER = "reviewer", "Reviewer"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"


class Capability(StrEnum):
    VIEW_PROJECT = "view_project"
    MANAGE_PROJECT = "manage_project"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_COHORTS = "manage_cohorts"
    VIEW_AUDIT = "view_audit"
    VIEW_STUDIES = "view_studies"  # pseudonymised index metadata
    VIEW_IMAGES = "view_images"  # pixels through the DICOMweb proxy
    UPLOAD = "upload"
    RUN_JOBS = "run_jobs"
    CANCEL_ANY_JOB = "cancel_any_job"
    LABEL = "label"
    REVIEW = "review"
    VIEW_RESULTS = "view_results"
    EXPORT_RESULTS = "export_results"


_C = Capability
_MEMBER = {_C.VIEW_PROJECT, _C.VIEW_STUDIES, _C.VIEW_RESULTS}

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.PROJECT_ADMIN: frozenset(
        _MEMBER
        | {
            _C.MANAGE_PROJECT,
            _C.MANAGE_MEMBERS,
            _C.MANAGE_COHORTS,
            _C.VIEW_AUDIT,
            _C.RUN_JOBS,
            _C.CANCEL_ANY_JOB,
        }
    ),
    Role.INVESTIGATOR: frozenset(_MEMBER | {_C.VIEW_IMAGES, _C.UPLOAD, _C.RUN_JOBS}),
    Role.LABELER: frozenset(_MEMBER | {_C.VIEW_IMAGES, _C.LABEL, _C.RUN_JOBS}),
    Role.REVIEWER: frozenset(_MEMBER | {_C.VIEW_IMAGES, _C.REVIEW, _C.RUN_JOBS}),
    # Analysts read results and metadata, never pixels (unless also viewers).
    Role.ANALYST: frozenset(_MEMBER | {_C.EXPORT_RESULTS}),
    Role.VIEWER: frozenset(_MEMBER | {_C.VIEW_IMAGES}),
}

DEFAULT_CROSS_INSTITUTION_ROLES = [Role.PROJECT_ADMIN, Role.REVIEWER, Role.ANALYST]


def default_cross_institution_roles() -> list[str]:
    return [str(role) for role in DEFAULT_CROSS_INSTITUTION_ROLES]


def capabilities_of(role: str) -> frozenset[Capability]:
    return ROLE_CAPABILITIES.get(role, frozenset())

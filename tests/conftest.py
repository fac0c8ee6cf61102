"""Shared fixtures. The `world` is a two-centre project: institution A (the
acting users' own) and B (another participating centre), with a study, series
and job owned by each, a cohort, and one user of A per role."""

from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework.test import APIClient

from analysis.models import SeriesLevels
from projects.roles import Role
from tests import factories

pytest_plugins = [
    "tests.fixtures.orthanc",
    "tests.fixtures.proxied_series",
    "tests.fixtures.nginx",
]

ROLES = [str(r) for r in Role]
# Columns of every permission matrix: each role, a non-member of hospital A, anonymous.
PRINCIPALS = [*ROLES, "outsider", "anonymous"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2 costs ~0.3 s per user; tests that check hashing itself re-enable it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    inst_a: Any
    inst_b: Any
    project: Any
    other_project: Any
    users: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def world(db: Any) -> World:
    inst_a = factories.InstitutionFactory(code="A", name="Hospital A")
    inst_b = factories.InstitutionFactory(code="B", name="Hospital B")
    project = factories.ProjectFactory(institutions=[inst_a, inst_b])
    other_project = factories.ProjectFactory(institutions=[inst_a, inst_b])
    w = World(inst_a, inst_b, project, other_project)
    for role in ROLES:
        user = factories.UserFactory(username=f"{role}_a", institution=inst_a)
        factories.MembershipFactory(project=project, user=user, role=role)
        w.users[role] = user
    w.users["outsider"] = factories.UserFactory(username="outsider_a", institution=inst_a)
    member_b = factories.UserFactory(username="labeler_b", institution=inst_b)
    w.objects["membership_b"] = factories.MembershipFactory(
        project=project, user=member_b, role="labeler"
    )
    # Someone of A without a role yet, for membership grants.
    w.users["candidate"] = factories.UserFactory(username="candidate_a", institution=inst_a)
    for side, inst in (("own", inst_a), ("other", inst_b)):
        study = factories.StudyFactory(project=project, institution=inst)
        series = factories.SeriesFactory(study=study)
        w.objects[f"study_{side}"] = study
        w.objects[f"series_{side}"] = series
        w.objects[f"job_{side}"] = factories.JobFactory(
            project=project, institution=inst, series=series, created_by=member_b
        )
        levels_job = factories.JobFactory(
            project=project,
            institution=inst,
            series=series,
            job_type="classify_levels",
            state="succeeded",
        )
        w.objects[f"levels_{side}"] = SeriesLevels.objects.create(
            job=levels_job,
            series=series,
            model_name="tiny",
            model_version="1",
            slice_levels=["L2", "L3", "L3"],
            ranges=[{"level": "L3", "first": 1, "last": 2}],
        )
    w.objects["job_project"] = factories.JobFactory(project=project, created_by=member_b)
    w.objects["cohort"] = factories.CohortFactory(project=project)
    w.objects["other_project_study"] = factories.StudyFactory(
        project=other_project, institution=inst_a
    )
    return w


def client_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api() -> type[APIClient]:
    return APIClient

"""Membership, project and cohort rules, and list scoping by institution."""

from typing import Any

import pytest

from core.errors import ApplicationError, Conflict
from imaging.models import Study
from projects import services
from projects.models import ProjectMembership
from projects.roles import Role
from tests import factories
from tests.conftest import World, client_for


def _ids(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def test_lists_are_scoped_by_institution_and_role(world: World) -> None:
    own, other = world.objects["study_own"].pk, world.objects["study_other"].pk
    for role, expected in [
        ("labeler", {own}),
        ("viewer", {own}),
        ("investigator", {own}),
        ("analyst", {own, other}),
        ("reviewer", {own, other}),
        ("project_admin", {own, other}),
        ("outsider", set()),
    ]:
        got = _ids(client_for(world.users[role]).get("/api/v1/studies/"))
        assert got == expected, role


def test_project_can_share_other_centres_with_a_role(world: World) -> None:
    labeler = world.users["labeler"]
    world.project.cross_institution_roles = ["labeler"]
    world.project.save()
    got = _ids(client_for(labeler).get("/api/v1/studies/"))
    assert world.objects["study_other"].pk in got


def test_other_projects_studies_are_never_listed(world: World) -> None:
    got = _ids(client_for(world.users["project_admin"]).get("/api/v1/studies/"))
    assert world.objects["other_project_study"].pk not in got


def test_cohort_studies_show_only_what_the_user_may_see(world: World) -> None:
    cohort = world.objects["cohort"]
    cohort.studies.set([world.objects["study_own"], world.objects["study_other"]])
    labeler_view = client_for(world.users["labeler"]).get(f"/api/v1/cohorts/{cohort.pk}/").json()
    analyst_view = client_for(world.users["analyst"]).get(f"/api/v1/cohorts/{cohort.pk}/").json()
    assert labeler_view["studies"] == [world.objects["study_own"].pk]
    assert len(analyst_view["studies"]) == 2


def test_cohort_criteria_select_matching_studies_and_are_recorded(world: World) -> None:
    inst_a = world.inst_a
    factories.StudyFactory(
        project=world.project, institution=inst_a, patient_sex="M", patient_age_years=70
    )
    young = factories.StudyFactory(
        project=world.project, institution=inst_a, patient_sex="M", patient_age_years=40
    )
    body = {
        "project": world.project.pk,
        "name": "Older men",
        "criteria": {"sexes": ["M"], "age_min": 65, "institutions": ["A"]},
    }
    client = client_for(world.users["project_admin"])
    created = client.post("/api/v1/cohorts/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["criteria"] == {"sexes": ["M"], "age_min": 65, "institutions": ["A"]}
    matched = Study.objects.filter(pk__in=data["studies"])
    assert [(s.patient_sex, s.patient_age_years) for s in matched] == [("M", 70)]
    # Refresh picks up a study that now matches.
    young.patient_age_years = 66
    young.save()
    refreshed = client.post(f"/api/v1/cohorts/{data['id']}/refresh/").json()
    assert young.pk in refreshed["studies"]


def test_cohort_criteria_are_validated(world: World) -> None:
    client = client_for(world.users["project_admin"])
    body = {
        "project": world.project.pk,
        "name": "Bad",
        "criteria": {"age_min": 80, "age_max": 20, "sexes": ["X"]},
    }
    response = client.post("/api/v1/cohorts/", body, format="json")
    assert response.status_code == 400
    errors = response.json()["criteria"]
    assert "sexes" in errors


def test_cohort_cannot_be_moved_to_another_project(world: World) -> None:
    cohort = world.objects["cohort"]
    world.other_project.memberships.create(user=world.users["project_admin"], role="project_admin")
    response = client_for(world.users["project_admin"]).patch(
        f"/api/v1/cohorts/{cohort.pk}/", {"project": world.other_project.pk}, format="json"
    )
    assert response.status_code == 400
    cohort.refresh_from_db()
    assert cohort.project_id == world.project.pk


def test_grant_requires_a_participating_institution(world: World) -> None:
    stranger = factories.UserFactory(username="stranger")  # its own, non-participating hospital
    response = client_for(world.users["project_admin"]).post(
        "/api/v1/memberships/",
        {"project": world.project.pk, "user": "stranger", "role": "viewer"},
        format="json",
    )
    assert response.status_code == 400
    assert "does not take part" in response.json()["message"]
    assert not ProjectMembership.objects.filter(user=stranger).exists()


def test_duplicate_grant_is_a_conflict(world: World) -> None:
    with pytest.raises(Conflict):
        services.membership_grant(
            project=world.project,
            user=world.users["viewer"],
            role=Role.VIEWER,
            granted_by=world.users["project_admin"],
        )


def test_last_project_admin_cannot_be_removed(world: World) -> None:
    admin_row = ProjectMembership.objects.get(project=world.project, role=Role.PROJECT_ADMIN)
    response = client_for(world.users["project_admin"]).delete(
        f"/api/v1/memberships/{admin_row.pk}/"
    )
    assert response.status_code == 409
    assert ProjectMembership.objects.filter(pk=admin_row.pk).exists()


def test_unknown_role_and_missing_fields_give_field_errors(world: World) -> None:
    response = client_for(world.users["project_admin"]).post(
        "/api/v1/memberships/", {"project": world.project.pk, "role": "overlord"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"user", "role"}


def test_staff_creates_a_project_and_becomes_its_admin(world: World) -> None:
    staff = factories.UserFactory(username="ops", institution=world.inst_a, is_staff=True)
    body = {
        "name": "T10 cohort",
        "slug": "t10",
        "institutions": ["B"],
        "cross_institution_roles": ["analyst"],
    }
    response = client_for(staff).post("/api/v1/projects/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert sorted(data["institutions"]) == ["A", "B"]
    assert data["my_roles"] == ["project_admin"]
    assert data["cross_institution_roles"] == ["analyst"]


def test_institution_with_members_cannot_leave_the_project(world: World) -> None:
    response = client_for(world.users["project_admin"]).patch(
        f"/api/v1/projects/{world.project.pk}/", {"institutions": ["A"]}, format="json"
    )
    assert response.status_code == 409
    assert world.project.institutions.count() == 2


def test_project_creator_needs_an_institution(db: Any) -> None:
    staff = factories.UserFactory(institution=None, is_staff=True)
    with pytest.raises(ApplicationError):
        services.project_create(
            name="X", slug="x", description="", institutions=[], created_by=staff
        )

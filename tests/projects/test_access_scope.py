"""projects.access reads a user's memberships at most once per request and
never keeps them past it: a revoked member loses access on the next request
(even through the same user object), and a membership or project change made
during a request is seen by that request's later checks."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.access import access_for, accesses_for, request_scope
from projects.models import ProjectMembership
from tests import factories
from tests.conftest import World, client_for

pytestmark = pytest.mark.django_db


def _membership_reads(queries: CaptureQueriesContext) -> int:
    return sum(
        'FROM "projects_projectmembership"' in q["sql"] and "cross_institution_roles" in q["sql"]
        for q in queries.captured_queries
    )


def test_memberships_are_read_once_per_request(world: World) -> None:
    client = client_for(world.users["project_admin"])
    for path in (
        "/api/v1/projects/",
        "/api/v1/cohorts/",
        f"/api/v1/jobs/?project={world.project.pk}",
    ):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        assert _membership_reads(queries) == 1, path


def test_revoked_member_loses_access_on_the_next_request(world: World) -> None:
    user = world.users["viewer"]
    client = client_for(user)  # force_authenticate: the same user object every request
    study = world.objects["study_own"]
    assert client.get(f"/api/v1/studies/{study.pk}/").status_code == 200
    ProjectMembership.objects.filter(user=user).delete()
    assert client.get(f"/api/v1/studies/{study.pk}/").status_code == 404
    assert client.get("/api/v1/projects/").json()["count"] == 0


def test_cross_centre_roles_change_is_seen_on_the_next_request(world: World) -> None:
    client = client_for(world.users["project_admin"])
    other = world.objects["study_other"]
    assert client.get(f"/api/v1/studies/{other.pk}/").status_code == 200
    world.project.cross_institution_roles = []
    world.project.save()
    assert client.get(f"/api/v1/studies/{other.pk}/").status_code == 404


def test_changes_within_a_request_are_seen_by_its_later_checks(world: World) -> None:
    user = world.users["viewer"]
    with request_scope():
        assert access_for(user, world.project.pk) is not None
        with CaptureQueriesContext(connection) as queries:
            accesses_for(user)
        assert _membership_reads(queries) == 0  # read once in this scope
        ProjectMembership.objects.filter(user=user).delete()
        assert access_for(user, world.project.pk) is None
        factories.MembershipFactory(project=world.other_project, user=user, role="analyst")
        access = access_for(user, world.other_project.pk)
        assert access is not None and access.roles == {"analyst"}
        world.other_project.cross_institution_roles = []
        world.other_project.save()
        access = access_for(user, world.other_project.pk)
        assert access is not None and access.cross_institution_roles == frozenset()


def test_outside_a_request_every_call_reads_the_memberships(world: World) -> None:
    user: Any = world.users["viewer"]
    with CaptureQueriesContext(connection) as queries:
        accesses_for(user)
        accesses_for(user)
    assert _membership_reads(queries) == 2

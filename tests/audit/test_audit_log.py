"""The audit log is append-only: through the model, the admin, the API and,
on PostgreSQL, raw SQL."""

from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from audit.models import AuditAction, AuditEvent
from audit.services import audit_record
from tests import factories
from tests.conftest import World, client_for


@pytest.fixture
def event(db: Any) -> AuditEvent:
    return audit_record(action=AuditAction.LOGIN, username="someone")


def test_model_refuses_update_and_delete(event: AuditEvent) -> None:
    event.action = AuditAction.LOGOUT
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).action == AuditAction.LOGIN


def test_database_refuses_update_and_delete(event: AuditEvent) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    for sql in ("UPDATE audit_auditevent SET action = 'logout'", "DELETE FROM audit_auditevent"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).action == AuditAction.LOGIN


def test_queryset_bulk_delete_is_refused_by_database(event: AuditEvent) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 1


def test_admin_is_read_only(event: AuditEvent) -> None:
    admin = site._registry[AuditEvent]
    staff = factories.UserFactory(is_staff=True, is_superuser=True)
    request = RequestFactory().get("/admin/")
    request.user = staff
    assert not admin.has_add_permission(request)
    assert not admin.has_change_permission(request, event)
    assert not admin.has_delete_permission(request, event)
    assert admin.has_view_permission(request, event)


def test_api_shows_project_events_to_admins_and_own_events_to_others(world: World) -> None:
    viewer, admin = world.users["viewer"], world.users["project_admin"]
    audit_record(action=AuditAction.COHORT_CREATED, actor=admin, project_id=world.project.pk)
    audit_record(action=AuditAction.LOGIN, actor=viewer)
    stranger = world.objects["membership_b"].user
    audit_record(
        action=AuditAction.COHORT_CREATED, actor=stranger, project_id=world.other_project.pk
    )
    admin_view = client_for(admin).get("/api/v1/audit-events/").json()["results"]
    viewer_view = client_for(viewer).get("/api/v1/audit-events/").json()["results"]
    assert {e["project_id"] for e in admin_view if e["project_id"]} == {world.project.pk}
    assert [e["action"] for e in viewer_view] == ["login"]
    assert all(e["actor_id"] == viewer.pk for e in viewer_view)


def test_permission_changes_and_data_views_are_recorded(world: World) -> None:
    admin = world.users["project_admin"]
    client = client_for(admin)
    grant = {"project": world.project.pk, "user": "candidate_a", "role": "labeler"}
    membership = client.post("/api/v1/memberships/", grant, format="json").json()
    client.delete(f"/api/v1/memberships/{membership['id']}/")
    client.get(f"/api/v1/studies/{world.objects['study_own'].pk}/", REMOTE_ADDR="10.9.8.7")
    actions = list(AuditEvent.objects.filter(actor_id=admin.pk).values_list("action", flat=True))
    assert {"membership_granted", "membership_revoked", "study_viewed"} <= set(actions)
    viewed = AuditEvent.objects.get(action="study_viewed")
    assert viewed.object_id == str(world.objects["study_own"].pk)
    assert viewed.ip_address == "10.9.8.7"
    revoked = AuditEvent.objects.get(action="membership_revoked")
    assert revoked.detail == {"user": "candidate_a", "role": "labeler"}


@pytest.mark.django_db(transaction=True)
def test_non_durable_events_commit_asynchronously_in_one_statement() -> None:
    """durable=False (the image proxy's rows): one statement whose implicit
    transaction turns synchronous_commit off; nothing after it is affected."""
    with CaptureQueriesContext(connection) as queries:
        event = audit_record(action=AuditAction.IMAGE_ACCESSED, username="viewer", durable=False)
    assert len(queries.captured_queries) == 1
    assert queries.captured_queries[0]["sql"].endswith("; SET LOCAL synchronous_commit TO OFF")
    assert AuditEvent.objects.filter(pk=event.pk, actor_username="viewer").exists()
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db(transaction=True)
def test_non_durable_events_inside_a_transaction_stay_durable() -> None:
    """SET LOCAL there would make the caller's whole transaction asynchronous."""
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        audit_record(action=AuditAction.IMAGE_ACCESSED, username="viewer", durable=False)
    assert "synchronous_commit" not in queries.captured_queries[-1]["sql"]

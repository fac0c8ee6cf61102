"""Log in and out through the form and the token endpoint, with django-axes
lockout and audit records."""

from typing import Any

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditAction, AuditEvent
from tests import factories


@pytest.fixture
def person(db: Any) -> Any:
    return factories.UserFactory(username="alice", email="alice.smith@nvh.example")


def test_login_and_logout_are_audited(person: Any) -> None:
    client = Client()
    response = client.post(
        "/login/", {"username": "alice", "password": factories.PASSWORD}, REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    login = AuditEvent.objects.get(action=AuditAction.LOGIN)
    assert (login.actor_id, login.ip_address) == (person.pk, "10.1.2.3")
    assert client.post("/logout/").status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.LOGOUT, actor_id=person.pk).exists()


def test_failed_login_is_audited_without_the_password(person: Any) -> None:
    response = Client().post("/login/", {"username": "alice", "password": "wrong-guess-123"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert event.actor_username == "alice"
    assert "wrong-guess" not in str(event.detail)


def test_axes_locks_the_account_after_repeated_failures(person: Any, settings: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "alice", "password": "nope-nope-nope"})
    locked = client.post("/login/", {"username": "alice", "password": factories.PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_token_endpoint_issues_tokens_and_is_locked_out_too(person: Any, settings: Any) -> None:
    client = APIClient()
    good = client.post("/api/v1/auth/token/", {"username": "alice", "password": factories.PASSWORD})
    assert good.status_code == 200
    token = good.json()["token"]
    authed = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    assert authed.get("/api/v1/me/").json()["username"] == "alice"
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_ISSUED, actor_id=person.pk).exists()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/api/v1/auth/token/", {"username": "alice", "password": "bad-bad-bad"})
    locked = client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": factories.PASSWORD}
    )
    assert locked.status_code == 429
    assert "token" not in locked.json()
    assert "Too many failed" in locked.json()["message"]


def test_unknown_token_is_rejected(db: Any) -> None:
    response = APIClient(HTTP_AUTHORIZATION="Token not-a-real-token").get("/api/v1/me/")
    assert response.status_code == 401


@pytest.mark.parametrize("weak", ["short1", "password1234", "123456789012", "alice.smith@nvh"])
def test_password_validators_refuse_weak_passwords(person: Any, weak: str) -> None:
    with pytest.raises(ValidationError):
        validate_password(weak, user=person)


def test_password_validators_accept_a_strong_password(person: Any) -> None:
    validate_password("tibia-lumbar-quorum-77", user=person)

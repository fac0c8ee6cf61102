"""OpenID Connect single sign-on end to end against a real provider: a separate
django-oauth-toolkit server (tests/oidc_provider) in its own process. A
requests session plays the browser: platform -> IdP login form -> IdP authorize
-> platform callback (code exchange with PKCE, RS256 ID token via JWKS, userinfo)."""

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client

from accounts.models import OidcIdentity, OidcLoginRule, User
from accounts.oidc import REFUSED_MESSAGE
from audit.models import AuditAction, AuditEvent
from projects.models import ProjectMembership
from tests import factories
from tests.oidc_provider.serve import CLIENT_ID, CLIENT_SECRET, PASSWORD

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def provider(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The IdP's issuer URL; its client may redirect only to the live platform's callback."""
    from tests.fixtures.orthanc import load_runner

    port = load_runner().free_port()
    state = tmp_path_factory.mktemp("oidc_provider")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.oidc_provider.serve", str(port), str(state),
         f"{live_server.url}/oidc/callback/"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.strip() == "ready", f"OpenID provider did not start: {line}"
        yield f"http://127.0.0.1:{port}/o"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def sso(settings: Any, provider: str) -> str:
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = provider
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider}/authorize/"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider}/token/"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider}/userinfo/"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider}/.well-known/jwks.json"
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "accounts.oidc.PlatformOIDCBackend",
    ]
    return provider


@pytest.fixture
def hospital(db: Any) -> dict[str, Any]:
    nvh = factories.InstitutionFactory(code="NVH", name="NVH")
    rmc = factories.InstitutionFactory(code="RMC", name="RMC")
    project = factories.ProjectFactory(institutions=[nvh, rmc])
    return {"nvh": nvh, "rmc": rmc, "project": project}


def sso_login(live_url: str, username: str) -> requests.Response:
    """Start SSO at the platform, sign in at the IdP's form, follow back; final response."""
    browser = requests.Session()
    form = browser.get(f"{live_url}/oidc/authenticate/?next=/", timeout=30)
    assert "/accounts/login/" in form.url, form.url
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    nxt = re.search(r'name="next" value="([^"]*)"', form.text)
    assert token and nxt
    final = browser.post(
        form.url,
        data={"csrfmiddlewaretoken": token[1], "username": username, "password": PASSWORD,
              "next": nxt[1].replace("&amp;", "&")},
        headers={"Referer": form.url}, timeout=30,
    )  # fmt: skip
    final.browser = browser  # type: ignore[attr-defined]
    return final


def test_matching_rules_give_institution_and_roles_and_never_reuse_a_local_account(
    live_server: Any, sso: str, hospital: dict[str, Any]
) -> None:
    project = hospital["project"]
    OidcLoginRule.objects.create(
        issuer=sso, claim="email_domain", value="NVH.example", institution=hospital["nvh"],
        project=project, role="investigator",
    )  # fmt: skip
    # Someone else's rule (another issuer) must not apply.
    OidcLoginRule.objects.create(
        issuer="https://other-idp.example", claim="email_domain", value="nvh.example",
        institution=hospital["rmc"], project=project, role="project_admin",
    )  # fmt: skip
    local = factories.UserFactory(username="alice", email="alice@nvh.example")

    final = sso_login(live_server.url, "alice")
    assert final.status_code == 200 and final.url == f"{live_server.url}/", final.url
    identity = OidcIdentity.objects.get(issuer=sso)
    user = identity.user
    assert user.pk != local.pk and user.username == "alice-sso2"
    assert not user.has_usable_password()
    assert (user.email, user.institution) == ("alice@nvh.example", hospital["nvh"])
    roles = set(ProjectMembership.objects.filter(user=user).values_list("role", flat=True))
    assert roles == {"investigator"}
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN, actor_id=user.pk).exists()
    me = final.browser.get(f"{live_server.url}/api/v1/me/", timeout=10)  # type: ignore[attr-defined]
    assert me.json()["username"] == "alice-sso2"

    # Rules are applied again at the next login: a group rule added since grants a role.
    OidcLoginRule.objects.create(
        issuer=sso, claim="groups", value="radiology-nvh", institution=hospital["nvh"],
        project=project, role="labeler", priority=10,
    )  # fmt: skip
    assert sso_login(live_server.url, "alice").url == f"{live_server.url}/"
    assert OidcIdentity.objects.count() == 1
    roles = set(ProjectMembership.objects.filter(user=user).values_list("role", flat=True))
    assert roles == {"investigator", "labeler"}


def test_login_matching_no_rule_is_refused_with_a_message_and_creates_no_account(
    live_server: Any, sso: str, hospital: dict[str, Any]
) -> None:
    OidcLoginRule.objects.create(
        issuer=sso, claim="groups", value="research", institution=hospital["rmc"],
        project=hospital["project"], role="analyst",
    )  # fmt: skip
    users_before = User.objects.count()
    final = sso_login(live_server.url, "mallory")
    assert final.url == f"{live_server.url}/login/"
    assert "no access rule matches" in final.text and REFUSED_MESSAGE[:40] in final.text
    assert User.objects.count() == users_before
    assert not OidcIdentity.objects.exists()
    # bob is in the `research` group: the same provider works for a matching person.
    assert sso_login(live_server.url, "bob").url == f"{live_server.url}/"
    bob = OidcIdentity.objects.get().user
    assert bob.institution == hospital["rmc"]


def test_login_page_shows_sso_only_when_configured(settings: Any, db: Any) -> None:
    settings.OIDC_ENABLED = False
    page = Client().get("/login/")
    assert page.status_code == 200 and b"/oidc/authenticate/" not in page.content
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/?code=x&state=y").status_code == 404
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "NVH Active Directory"
    page = Client().get("/login/?next=/projects/1/")
    assert b"Log in with NVH Active Directory" in page.content
    assert b"/oidc/authenticate/?next=/projects/1/" in page.content


def test_axes_still_locks_local_logins_when_sso_is_on(sso: str, settings: Any) -> None:
    factories.UserFactory(username="carol")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "carol", "password": "wrong-wrong-wrong"})
    locked = client.post("/login/", {"username": "carol", "password": factories.PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_rule_validation_requires_project_and_role_together(hospital: dict[str, Any]) -> None:
    from django.core.exceptions import ValidationError

    rule = OidcLoginRule(
        issuer="x", value="nvh.example", institution=hospital["nvh"], role="viewer"
    )
    with pytest.raises(ValidationError, match="both a project and a role"):
        rule.clean()
    other = factories.ProjectFactory(institutions=[hospital["rmc"]])
    rule.project = other
    with pytest.raises(ValidationError, match="does not take part"):
        rule.clean()

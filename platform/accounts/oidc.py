"""OpenID Connect single sign-on next to local accounts (mozilla-django-oidc).

Off unless OIDC_RP_CLIENT_ID is set. An SSO user is found by (issuer, subject),
never by e-mail, and gets institution and project roles from the admin's
OidcLoginRule rows at every login; a login that matches no rule is refused and
creates no account."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.models import OidcIdentity, OidcLoginRule, User
from projects.models import ProjectMembership

log = logging.getLogger(__name__)

REFUSED_MESSAGE = (
    "Single sign-on succeeded, but your account is not authorised for this platform "
    "(no access rule matches it). Ask your platform administrator for access."
)


def _claim_values(claims: dict[str, Any], name: str) -> list[str]:
    if name == OidcLoginRule.EMAIL_DOMAIN:
        email = str(claims.get("email") or "")
        # An unverified address proves nothing about the domain.
        if "@" not in email or claims.get("email_verified") is False:
            return []
        return [email.rsplit("@", 1)[1].lower()]
    raw = claims.get(name)
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [str(item) for item in items]


def matching_rules(issuer: str, claims: dict[str, Any]) -> list[OidcLoginRule]:
    """Active rules of this issuer whose claim matches, in priority order."""
    matched = []
    rules = OidcLoginRule.objects.filter(issuer=issuer, is_active=True).select_related(
        "institution", "project"
    )
    for rule in rules:
        values = _claim_values(claims, rule.claim)
        wanted = rule.value.lower() if rule.claim == OidcLoginRule.EMAIL_DOMAIN else rule.value
        if wanted in values:
            matched.append(rule)
    return matched


def _new_username(claims: dict[str, Any], subject: str) -> str:
    base = str(claims.get("preferred_username") or str(claims.get("email", "")).split("@")[0])
    base = re.sub(r"[^\w.@+-]", "", base)[:100] or f"sso-{subject[:20]}"
    candidate, n = base, 1
    # A local account with the same name is never reused: SSO gets its own.
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-sso{n}"
    return candidate


class PlatformOIDCBackend(OIDCAuthenticationBackend):
    """Checks issuer and audience (the library does not) and applies the rules."""

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        issuer = str(payload.get("iss", ""))
        if issuer != settings.OIDC_OP_ISSUER:
            raise SuspiciousOperation(f"ID token issuer {issuer!r} is not the configured one")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token audience is not this client")
        subject = str(payload.get("sub", ""))
        if not subject:
            raise SuspiciousOperation("ID token has no subject")
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if str(userinfo.get("sub", subject)) != subject:
            raise SuspiciousOperation("userinfo subject differs from the ID token's")
        claims = {**payload, **userinfo}

        rules = matching_rules(issuer, claims)
        if not rules:
            log.warning("SSO login refused: no rule matches subject %s of %s", subject, issuer)
            if self.request is not None:
                messages.error(self.request, REFUSED_MESSAGE)
            return None
        return self._apply(issuer, subject, claims, rules)

    @transaction.atomic
    def _apply(
        self, issuer: str, subject: str, claims: dict[str, Any], rules: list[OidcLoginRule]
    ) -> Any:
        identity = (
            OidcIdentity.objects.select_related("user")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if identity is None:
            user = User(username=_new_username(claims, subject))
            user.set_unusable_password()
            identity = OidcIdentity(issuer=issuer, subject=subject, user=user)
        user = identity.user
        if not user.is_active:
            return None
        user.email = str(claims.get("email") or user.email)[:254]
        user.first_name = str(claims.get("given_name") or user.first_name)[:150]
        user.last_name = str(claims.get("family_name") or user.last_name)[:150]
        user.institution = rules[0].institution
        user.save()
        identity.user = user
        identity.last_login_at = timezone.now()
        identity.save()
        for rule in rules:
            if rule.project_id and rule.role:
                ProjectMembership.objects.get_or_create(
                    project=rule.project, user=user, role=rule.role
                )
        return user


class _EnabledOnly:
    """The SSO views answer 404 while single sign-on is not configured."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured")
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class SSOStartView(_EnabledOnly, OIDCAuthenticationRequestView):
    pass


class SSOCallbackView(_EnabledOnly, OIDCAuthenticationCallbackView):
    pass

"""What a user may do in each project, derived from memberships and roles.

Every permission check and every list filter in the platform goes through
this module, so the rules live in one place (projects.roles)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum
from typing import Any

from django.db.models import Q

from projects.models import ProjectMembership
from projects.roles import Capability, capabilities_of


class Scope(Enum):
    NONE = 0
    OWN_INSTITUTION = 1
    ALL_INSTITUTIONS = 2


@dataclass(frozen=True)
class ProjectAccess:
    project_id: int
    institution_id: int | None
    roles: frozenset[str]
    cross_institution_roles: frozenset[str]

    def scope(self, capability: Capability) -> Scope:
        best = Scope.NONE
        for role in self.roles:
            if capability not in capabilities_of(role):
                continue
            if role in self.cross_institution_roles:
                return Scope.ALL_INSTITUTIONS
            best = Scope.OWN_INSTITUTION
        return best

    def can(self, capability: Capability, *, institution_id: int | None = None) -> bool:
        """May the user use `capability`, on data owned by `institution_id` if given?"""
        scope = self.scope(capability)
        if scope is Scope.ALL_INSTITUTIONS:
            return True
        if scope is Scope.OWN_INSTITUTION:
            return institution_id is None or institution_id == self.institution_id
        return False


# Accesses already read in the current request, by (user id, institution id).
# Only a request scope (AccessScopeMiddleware) holds them, and it ends with the
# request: a revoked member loses access on the next request. Outside a scope
# (Celery tasks, commands) every call reads the memberships afresh.
_request_accesses: ContextVar[dict[tuple[Any, Any], dict[int, "ProjectAccess"]] | None] = (
    ContextVar("project_accesses", default=None)
)


@contextmanager
def request_scope() -> Iterator[None]:
    """Read each user's memberships at most once inside this block (one request)."""
    token = _request_accesses.set({})
    try:
        yield
    finally:
        _request_accesses.reset(token)


def forget_accesses(**_: Any) -> None:
    """Drop the accesses read so far in this request (a membership or project
    changed): the next check reads them again. Connected to model signals."""
    cache = _request_accesses.get()
    if cache:
        cache.clear()


class AccessScopeMiddleware:
    """One request scope for projects.access per HTTP request."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        with request_scope():
            return self.get_response(request)


def accesses_for(user: Any) -> dict[int, ProjectAccess]:
    """All the user's project accesses, keyed by project id (one query, at
    most once per request)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return {}
    cache = _request_accesses.get()
    if cache is None:
        return _read_accesses(user)
    key = (user.pk, user.institution_id)
    accesses = cache.get(key)
    if accesses is None:
        accesses = cache[key] = _read_accesses(user)
    return accesses


def _read_accesses(user: Any) -> dict[int, ProjectAccess]:
    rows = (
        ProjectMembership.objects.filter(user=user)
        .order_by("project_id", "role")  # not Meta.ordering: no join of the users
        .values_list("project_id", "role", "project__cross_institution_roles")
    )
    roles: dict[int, set[str]] = {}
    cross: dict[int, frozenset[str]] = {}
    for project_id, role, cross_roles in rows:
        roles.setdefault(project_id, set()).add(role)
        cross[project_id] = frozenset(cross_roles or [])
    return {
        pid: ProjectAccess(pid, user.institution_id, frozenset(r), cross[pid])
        for pid, r in roles.items()
    }


def access_for(user: Any, project_id: int) -> ProjectAccess | None:
    return accesses_for(user).get(project_id)


def user_can(
    user: Any, capability: Capability, *, project_id: int, institution_id: int | None = None
) -> bool:
    access = access_for(user, project_id)
    return access is not None and access.can(capability, institution_id=institution_id)


def scoped_filter(
    user: Any,
    capability: Capability,
    *,
    project_field: str = "project_id",
    institution_field: str = "institution_id",
) -> Q:
    """A Q selecting the rows the user may use `capability` on. Rows carry a
    project and an owning institution; `institution_field` may be a lookup path."""
    query = Q(pk__in=[])
    for project_id, access in accesses_for(user).items():
        scope = access.scope(capability)
        if scope is Scope.ALL_INSTITUTIONS:
            query |= Q(**{project_field: project_id})
        elif scope is Scope.OWN_INSTITUTION and access.institution_id is not None:
            query |= Q(**{project_field: project_id, institution_field: access.institution_id})
    return query


def project_ids_with(user: Any, capability: Capability) -> list[int]:
    """Projects where the user holds `capability` in any scope."""
    return [
        pid
        for pid, access in accesses_for(user).items()
        if access.scope(capability) is not Scope.NONE
    ]


def require(
    user: Any, capability: Capability, *, project_id: int, institution_id: int | None = None
) -> None:
    """Raise 403 unless the user holds `capability` (for that institution's data)."""
    from core.errors import Forbidden

    if not user_can(user, capability, project_id=project_id, institution_id=institution_id):
        raise Forbidden(
            "You do not have permission to do this in this project.",
            extra={"required": str(capability)},
        )

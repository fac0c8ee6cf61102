"""The browser's only path to pixels: a read-only DICOMweb proxy in front of
the image store. Every request is authenticated (token or session), checked
against Capability.VIEW_IMAGES on the study, streamed through and audited.

Refusals never reveal what the user may not see: a study outside the user's
scope is 404, one visible without VIEW_IMAGES is 403, anonymous is 401. The
image store's URL, credentials and headers never reach the browser."""

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from requests.adapters import HTTPAdapter
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from urllib3.util import Retry

from audit.models import AuditAction
from audit.services import audit_record
from imaging.dicomweb import ImageStore, ImageStoreError, image_store
from imaging.models import Study
from imaging.proxy_paths import (
    SEARCH_STUDIES,
    Resource,
    filter_studies,
    proxy_root,
    rewrite_urls,
    split_paging,
    upstream_path,
)
from projects.access import ProjectAccess, scoped_filter
from projects.roles import Capability

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
ALLOWED_METHODS = ("GET", "HEAD")
# Upstream answers that mean the platform, not the client, is at fault.
_UPSTREAM_FAULTS = {401, 403, 407}
_OUTCOMES = {401: "unauthenticated", 403: "denied", 404: "not_found", 405: "method_not_allowed"}
# What authorize_images tells the edge (nginx's auth_request_set reads these).
EDGE_ACTOR_HEADER = "X-Image-Actor"
EDGE_USERNAME_HEADER = "X-Image-Username"
EDGE_STUDY_HEADER = "X-Image-Study"
EDGE_PROJECT_HEADER = "X-Image-Project"
EDGE_REFUSAL_HEADER = "X-Image-Refusal"
_token_auth = TokenAuthentication()
_thread = threading.local()


@dataclass
class AccessLog:
    """The one audit event of a proxied request: written at once for refusals,
    when the body stream closes (end, client gone or error) for answers."""

    request: HttpRequest
    resource: str
    params: dict[str, str]
    actor: Any = None
    study: Study | None = None

    def write(self, *, status: int, outcome: str, sent: int = 0, **extra: Any) -> None:
        detail = {
            "resource": self.resource,
            **self.params,
            "method": self.request.method,
            "status": status,
            "outcome": outcome,
            "bytes": sent,
            **extra,
        }
        audit_record(
            action=AuditAction.IMAGE_ACCESSED,
            actor=self.actor,
            obj=self.study,
            project_id=self.study.project_id if self.study else None,
            request=self.request,
            detail=detail,
            durable=False,  # one row per image request: no WAL flush wait (see audit_record)
        )

    def refuse(self, status: int, message: str) -> JsonResponse:
        self.write(status=status, outcome=_OUTCOMES[status])
        response = JsonResponse({"message": message}, status=status)
        if status == 405:
            response["Allow"] = ", ".join(ALLOWED_METHODS)
        elif status == 401:
            response["WWW-Authenticate"] = "Token"
        return response


class AuditedBody:
    """The upstream body in chunks, counting the bytes the server actually took
    (a chunk counts once the server asks for the next one). close() releases the
    upstream connection and writes the audit event, exactly once."""

    def __init__(self, chunks: Iterator[bytes], upstream: requests.Response, log: AccessLog):
        self._chunks = chunks
        self._upstream = upstream
        self._log = log
        self.sent = 0
        self.outcome = "incomplete"  # until the last chunk has gone out
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._chunks:
                yield chunk
                self.sent += len(chunk)
        except (requests.RequestException, OSError):
            self.outcome = "upstream_error"
            logger.warning("image store failed mid-stream on %s", self._log.resource)
            raise  # the server must abort the connection, not end it cleanly
        self.outcome = "ok"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._upstream.close()
        try:
            self._log.write(status=self._upstream.status_code, outcome=self.outcome, sent=self.sent)
        except Exception:
            # Django silently swallows errors raised by closers: log them at least.
            logger.exception("audit record of a proxied %s failed", self._log.resource)


@csrf_exempt  # GET/HEAD only: nothing here changes state
def dicomweb(request: HttpRequest, *, resource: Resource, **params: str) -> HttpResponseBase:
    log = AccessLog(request, resource.name, params)
    try:
        log.actor = _authenticate(request)
    except AuthenticationFailed as exc:
        return log.refuse(401, str(exc.detail))
    if request.method not in ALLOWED_METHODS:
        return log.refuse(405, "Only GET and HEAD are allowed.")
    if log.actor is None:
        return log.refuse(401, "Authentication credentials were not provided.")
    if resource is SEARCH_STUDIES:
        return _search_studies(request, log)
    study, status = _study_for(log.actor, params["study_uid"])
    log.study = study
    if status == 403:
        return log.refuse(403, "You may not view the images of this study.")
    if study is None:
        return log.refuse(404, "Not found.")
    return _forward(request, log, upstream_path(resource, params), rewrite=resource.rewrite)


@csrf_exempt
def authorize_images(request: HttpRequest, *, study_uid: str) -> HttpResponse:
    """The edge's access decision for the DICOMweb requests it serves itself
    (deploy/docker/nginx: the byte resources, i.e. series, instances, frames,
    rendered images and bulk data, streamed by nginx from the image store after
    this answer, which it caches for a few seconds per credential and study).
    The same rules as dicomweb(): 200 allows; a refusal is 401 or 403 (all
    that nginx's auth_request passes on), with X-Image-Refusal naming the
    answer the client gets. The X-Image-* headers say who and what for the
    edge's access log, which imaging.edge_access_log ships into the audit log;
    nothing is written here."""
    response = HttpResponse(status=200)
    try:
        user = _authenticate(request)
    except AuthenticationFailed:
        user = None
    if user is None:
        return _edge_refusal(response, 401, "unauthenticated")
    response[EDGE_ACTOR_HEADER] = str(user.pk)
    response[EDGE_USERNAME_HEADER] = user.get_username()
    study, status = _study_for(user, study_uid)
    if study is not None:
        response[EDGE_STUDY_HEADER] = str(study.pk)
        response[EDGE_PROJECT_HEADER] = str(study.project_id)
    if status == 403:
        return _edge_refusal(response, 403, "denied")
    if study is None:
        return _edge_refusal(response, 403, "not_found")
    return response


def _edge_refusal(response: HttpResponse, status: int, refusal: str) -> HttpResponse:
    response.status_code = status
    response[EDGE_REFUSAL_HEADER] = refusal
    if status == 401:
        response["WWW-Authenticate"] = "Token"
    return response


@csrf_exempt
def unknown(request: HttpRequest) -> JsonResponse:
    """Any other path below the proxy root: 404, audited like the rest."""
    log = AccessLog(request, "unknown", {"path": request.path[:200]})
    try:
        log.actor = _authenticate(request)
    except AuthenticationFailed:
        log.actor = None
    return log.refuse(404, "Not found.")


def _authenticate(request: HttpRequest) -> Any | None:
    """Token first (API clients), then the browser's session, as in the API.
    Raises AuthenticationFailed for a bad or inactive token."""
    found = _token_auth.authenticate(request)  # reads only request.META
    if found is not None:
        return found[0]
    user = request.user
    return user if user.is_authenticated else None


def _study_for(user: Any, study_uid: str) -> tuple[Study | None, int]:
    """The study row the user may view images of (status 200); else the one
    visible without VIEW_IMAGES (403), else none (404). The same UID may be in
    several projects: any permitted row grants access.

    One query per request, never cached: the rows with that UID in projects
    where the user holds a role, with the roles and the project's cross-centre
    roles, judged by projects.access (where the rules live) as they stand now."""
    if not user.is_active:
        return None, 404
    rows = (
        Study.objects.filter(study_instance_uid=study_uid, project__memberships__user=user)
        .values_list(
            "id",
            "project_id",
            "institution_id",
            "project__memberships__role",
            "project__cross_institution_roles",
        )
        .order_by("id")
    )
    roles: dict[tuple[int, int, int], set[str]] = {}
    cross: dict[int, frozenset[str]] = {}
    for study_id, project_id, institution_id, role, cross_roles in rows:
        roles.setdefault((study_id, project_id, institution_id), set()).add(role)
        cross[project_id] = frozenset(cross_roles or [])
    found: tuple[Study | None, int] = (None, 404)
    for (study_id, project_id, institution_id), held in roles.items():
        access = ProjectAccess(project_id, user.institution_id, frozenset(held), cross[project_id])
        study = Study(id=study_id, project_id=project_id, institution_id=institution_id)
        if access.can(Capability.VIEW_IMAGES, institution_id=institution_id):
            return study, 200
        if found[0] is None and access.can(Capability.VIEW_STUDIES, institution_id=institution_id):
            found = (study, 403)
    return found


def _search_studies(request: HttpRequest, log: AccessLog) -> HttpResponseBase:
    """QIDO-RS studies, filtered to the studies the user may view images of."""
    permitted = set(
        Study.objects.filter(scoped_filter(log.actor, Capability.VIEW_IMAGES)).values_list(
            "study_instance_uid", flat=True
        )
    )
    query, offset, limit = split_paging(request.META.get("QUERY_STRING", ""))
    upstream = _open_upstream(request, "studies", query, accept="application/dicom+json")
    if isinstance(upstream, HttpResponseBase):
        return _refused_upstream(log, upstream)
    with upstream:
        body, count = filter_studies(upstream.content, permitted, offset=offset, limit=limit)
    body = rewrite_urls(body, _url_replacements(request, SEARCH_STUDIES.pattern))
    response = HttpResponse(b"" if request.method == "HEAD" else body)
    response["Content-Type"] = "application/dicom+json"
    response["Content-Length"] = str(len(body))
    _no_store(response)
    log.write(status=200, outcome="ok", sent=len(response.content), results=count)
    return response


def _forward(request: HttpRequest, log: AccessLog, path: str, *, rewrite: bool) -> HttpResponseBase:
    upstream = _open_upstream(request, path, request.META.get("QUERY_STRING", ""))
    if isinstance(upstream, HttpResponseBase):
        return _refused_upstream(log, upstream)
    content_type = upstream.headers.get("Content-Type", "application/octet-stream")
    length = upstream.headers.get("Content-Length")
    if upstream.headers.get("Content-Encoding"):
        length = None  # iter_content decodes, so the upstream length would lie
    if rewrite:
        body = rewrite_urls(upstream.content, _url_replacements(request, path))
        chunks: Iterator[bytes] = iter([body])
        length = str(len(body))
    else:
        chunks = upstream.iter_content(CHUNK_BYTES)
    if request.method == "HEAD":
        upstream.close()
        response: HttpResponseBase = HttpResponse(status=upstream.status_code)
        log.write(status=upstream.status_code, outcome="ok")
    else:
        body_stream = AuditedBody(chunks, upstream, log)
        response = StreamingHttpResponse(body_stream, status=upstream.status_code)
    response["Content-Type"] = content_type
    if length is not None:
        response["Content-Length"] = length
    _no_store(response)
    return response


def _open_upstream(
    request: HttpRequest, path: str, query: str, *, accept: str = ""
) -> requests.Response | HttpResponseBase:
    """GET from the image store, streaming. Only the client's Accept and query
    string go upstream. Forwarded makes Orthanc build every URL it writes (JSON,
    multipart Content-Location) on the platform's host instead of its own.
    Returns the open response, or an error response for the client."""
    headers = {
        "Accept": accept or request.headers.get("Accept", "*/*"),
        "Accept-Encoding": "identity",
        "Forwarded": f"host={request.get_host()};proto={request.scheme}",
    }
    try:
        upstream = _store().get(path, params=query or None, headers=headers, stream=True)
    except ImageStoreError as exc:
        logger.warning("image store unreachable: %s", exc)
        return _bad_gateway()
    if upstream.status_code < 400:
        return upstream
    upstream.close()
    if upstream.status_code >= 500 or upstream.status_code in _UPSTREAM_FAULTS:
        logger.warning("image store answered HTTP %s", upstream.status_code)
        return _bad_gateway()
    # The client's own mistake (unknown series, unsupported Accept): keep the
    # status, drop Orthanc's body, which names its internal URIs.
    return JsonResponse(
        {"message": "The image store refused this request."}, status=upstream.status_code
    )


def _store() -> ImageStore:
    """This thread's image store client. Kept between requests so that its
    keep-alive connections are reused (a new TCP connection per frame costs
    more than the frame); per thread because requests.Session is not
    thread-safe. Rebuilt when the settings change (tests)."""
    store: ImageStore | None = getattr(_thread, "store", None)
    wanted = (settings.DICOMWEB_URL, settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD)
    if store is None or (store.base_url, store.username, store.password) != wanted:
        store = _thread.store = image_store()
        _tune_session(store.session)
    return store


def _tune_session(session: requests.Session) -> None:
    # The store is an internal service: no HTTP_PROXY or netrc from the
    # environment, whose lookup also costs ~3 ms of CPU on every request.
    session.trust_env = False
    # One retry: the store may close an idle keep-alive connection just as it
    # is reused (Orthanc after 1 s). Only GETs pass here, so a retry is safe;
    # it happens before any byte reaches the client.
    retry = Retry(total=1, connect=1, read=1, status=0, redirect=0, other=0)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))


def _refused_upstream(log: AccessLog, response: HttpResponseBase) -> HttpResponseBase:
    outcome = "upstream_error" if response.status_code == 502 else "upstream_refused"
    log.write(status=response.status_code, outcome=outcome)
    return response


def _bad_gateway() -> JsonResponse:
    return JsonResponse({"message": "The image store is unavailable."}, status=502)


def _url_replacements(request: HttpRequest, resource_path: str) -> list[tuple[str, str]]:
    """Image store URLs -> proxy URLs: those built from the Forwarded header,
    and the store's own base URL in case a store ignores that header."""
    store_root = urlsplit(settings.DICOMWEB_URL).path.rstrip("/") + "/"
    proxy = request.build_absolute_uri(proxy_root(request.path, resource_path))
    forwarded = f"{request.scheme}://{request.get_host()}{store_root}"
    return [(forwarded, proxy), (settings.DICOMWEB_URL.rstrip("/") + "/", proxy)]


def _no_store(response: HttpResponseBase) -> None:
    # Pixels are research data under a data-sharing agreement: no shared or disk caches.
    response["Cache-Control"] = "private, no-store"

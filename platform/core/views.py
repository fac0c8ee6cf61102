from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.health import run_checks


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Public liveness/readiness: reachability only, no data. 503 if any part is down."""
    results = run_checks()
    healthy = all(r.ok for r in results.values())
    body = {
        "status": "ok" if healthy else "degraded",
        "checks": {name: {"ok": r.ok, "detail": r.detail} for name, r in results.items()},
    }
    return JsonResponse(body, status=200 if healthy else 503)

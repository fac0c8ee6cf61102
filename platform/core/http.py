"""Request helpers shared by views and the audit log."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The caller's address. X-Forwarded-For is trusted only behind a proxy
    that the deployment declares (TRUSTED_PROXY_COUNT), never by default."""
    return forwarded_client(
        request.META.get("HTTP_X_FORWARDED_FOR", ""), request.META.get("REMOTE_ADDR", "")
    )


def forwarded_client(forwarded_for: str, remote_addr: str) -> str:
    """The client in an X-Forwarded-For chain, counting TRUSTED_PROXY_COUNT hops
    from its end; else the direct peer."""
    hops = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if hops and forwarded_for:
        addresses = [a.strip() for a in forwarded_for.split(",") if a.strip()]
        if len(addresses) >= hops:
            return addresses[-hops]
    return remote_addr


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:256]

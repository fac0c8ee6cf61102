"""Reachability checks of the services the platform depends on, for /healthz
and readiness probes. Each check is bounded by a short timeout."""

import logging
from dataclasses import dataclass

import redis
import requests
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)
TIMEOUT_S = 2.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str = ""


def check_database() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not reachable"
        logger.warning("healthz database check failed: %s", exc)
        return CheckResult(False, type(exc).__name__)
    return CheckResult(True, connection.vendor)


def check_broker() -> CheckResult:
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
        client.ping()
    except Exception as exc:
        logger.warning("healthz broker check failed: %s", exc)
        return CheckResult(False, type(exc).__name__)
    return CheckResult(True, "redis")


def check_image_store() -> CheckResult:
    auth = None
    if settings.DICOMWEB_USERNAME:
        auth = (settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD)
    try:
        response = requests.get(
            f"{settings.DICOMWEB_URL.rstrip('/')}/studies",
            params={"limit": "1"},
            headers={"Accept": "application/dicom+json"},
            auth=auth,
            timeout=TIMEOUT_S,
        )
    except requests.RequestException as exc:
        logger.warning("healthz image store check failed: %s", exc)
        return CheckResult(False, type(exc).__name__)
    if response.status_code not in (200, 204):
        return CheckResult(False, f"HTTP {response.status_code}")
    return CheckResult(True, "dicomweb")


def run_checks() -> dict[str, CheckResult]:
    return {
        "database": check_database(),
        "broker": check_broker(),
        "image_store": check_image_store(),
    }

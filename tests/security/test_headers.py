"""Security headers under production settings (DEBUG off, as deployed behind a
TLS proxy): HSTS, CSP, framing, sniffing, referrer; plain HTTP is redirected
except the probes' /healthz."""

import json
import subprocess
import sys

from tests.core.test_settings import ROOT, _production_env

PROBE = """
import json
from django.test import Client
client = Client(HTTP_HOST="platform.example.org")
# An API answer: pages need collectstatic's manifest under production storage.
secure = client.get("/api/v1/me/", secure=True)
plain = client.get("/api/v1/me/")
probe = client.get("/healthz")
print(json.dumps({
    "status": secure.status_code,
    "headers": dict(secure.headers),
    "plain": [plain.status_code, plain.headers.get("Location", "")],
    "probe": probe.status_code,
}))
"""


def test_production_responses_carry_the_security_headers() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    headers = {k.lower(): v for k, v in out["headers"].items()}
    assert out["status"] == 401
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    csp = dict(
        (part.split(" ", 1) + [""])[:2]
        for part in (p.strip() for p in headers["content-security-policy"].split(";"))
    )
    assert csp["script-src"] == "'self' 'wasm-unsafe-eval'"  # no 'unsafe-inline', no eval
    assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'self'"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert out["plain"] == [301, "https://platform.example.org/api/v1/me/"]
    assert out["probe"] in (200, 503)  # answered over plain HTTP, not redirected

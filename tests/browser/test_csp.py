"""The Content-Security-Policy holds in a real browser: script injected into a
platform page is refused with a CSP violation, and the platform cannot be framed."""

from typing import Any

import pytest

from tests import factories
from tests.browser.conftest import run_browser_script
from tests.conftest import World

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_injected_inline_script_is_blocked_by_csp(world: World, live_server: Any) -> None:
    out = run_browser_script(
        "csp_enforced.mjs",
        {
            "BASE_URL": live_server.url,
            "USERNAME": world.users["investigator"].username,
            "PASSWORD": factories.PASSWORD,
            "PAGE": f"/projects/{world.project.pk}/",
        },
    )
    assert "script-src 'self'" in out["csp"] and "unsafe-inline" not in out["csp"]
    assert out["marked"], "the injection reached the page"
    assert out["inline"] is None, "an injected script ran"
    directives = {v["directive"] for v in out["violations"]}
    assert {"script-src-elem", "script-src-attr"} <= directives, out["violations"]
    assert all(v["blocked"] == "inline" for v in out["violations"])
    assert out["framedLogin"] is False
    assert any("frame-ancestors" in line for line in out["console"]), out["console"]

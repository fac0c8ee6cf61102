"""Browser tests run small node scripts (playwright-core driving Debian
chromium) against the live test server, and keep their screenshots in
test-artifacts/."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
NODE_MODULES = ROOT / "frontend" / "node_modules" / "playwright-core"


def run_browser_script(script: str, env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    if shutil.which("node") is None or not NODE_MODULES.exists():
        pytest.fail("node and frontend/node_modules are needed: run `make setup`")
    if not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
        pytest.fail("Debian chromium is needed: run `make setup`")
    ARTIFACTS.mkdir(exist_ok=True)
    result = subprocess.run(
        ["node", str(Path(__file__).parent / script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT / "frontend",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])

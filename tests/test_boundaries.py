"""Structural rules: the standard library's `platform` is never shadowed, and
ml_worker stays Django-free (it talks to the platform only by task name)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_platform_module_is_the_standard_library() -> None:
    import platform

    assert platform.system() in {"Linux", "Darwin", "Windows"}
    assert Path(platform.__file__).parent == Path(sys.modules["os"].__file__).parent
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_ml_worker_imports_no_django() -> None:
    # kombu itself peeks at django.utils when Django is installed; what must never
    # load is Django's settings, ORM or app registry, or any platform module.
    code = (
        "import sys, ml_worker.tasks, ml_worker.synthetic;"
        "banned = ('django.conf', 'django.db', 'django.apps', 'config', 'projects', 'imaging',"
        " 'analysis', 'annotations', 'audit', 'accounts', 'core');"
        "bad = [m for m in sys.modules if m.split('.')[0] in banned[3:] or m in banned[:3]"
        " or m.startswith(tuple(b + '.' for b in banned[:3]))];"
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_ml_worker_source_never_mentions_platform_apps() -> None:
    forbidden = (
        "import django",
        "from django",
        "from config",
        "from projects",
        "from imaging",
        "from analysis",
        "from annotations",
        "from audit",
        "from accounts",
    )
    for path in (ROOT / "ml_worker").rglob("*.py"):
        text = path.read_text()
        assert not any(f in text for f in forbidden), path

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": "k" * 10 + "9f2Lq8vXz0Rt5mWc3Yb7Nd1Hs6Jp4Gk2Uq8Ve0Xa5Zc",
            "ALLOWED_HOSTS": "platform.example.org",
            "DEID_KEY": "a-real-deidentification-key-from-the-environment",
        }
    )
    return env


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key() -> None:
    env = _production_env()
    del env["SECRET_KEY"]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_deid_key() -> None:
    env = _production_env()
    del env["DEID_KEY"]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "DEID_KEY must be set" in result.stderr


def test_bad_boolean_stops_start_up() -> None:
    env = _production_env()
    env["DEBUG"] = "maybe"
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_env_readers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a.org, b.org,")
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_bool("X_BOOL") is True
    assert env_int("X_INT", 1) == 42
    assert env_list("X_LIST", []) == ["a.org", "b.org"]
    assert env_str("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_INT", "forty")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1)


def test_sqlite_is_the_default_without_database_url() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"DEBUG": "1", "VAR_DIR": "/tmp/sarco-settings-test"})
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT / "platform",
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "django.db.backends.sqlite3", result.stderr[-1000:]


def test_wsgi_workers_import_every_view_before_their_first_request() -> None:
    code = (
        "import sys; import config.wsgi; "
        "print(all(m in sys.modules for m in ('config.urls', 'imaging.api', 'imaging.proxy')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "platform")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"

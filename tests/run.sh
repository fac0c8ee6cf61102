#!/usr/bin/env bash
# The whole suite against real services: lint, then pytest. Called by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG=1
export SECRET_KEY=${SECRET_KEY:-test-secret-key-not-for-production-0123456789abcdef}
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sarcopenia_ci}
# A separate Redis database, so tests never consume a running demo's tasks.
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
export AXES_ENABLED=1
mkdir -p test-artifacts
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"

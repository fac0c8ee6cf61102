#!/usr/bin/env bash
# A management command against the running demo (same database, image store
# and model registry as `make demo`), e.g.
#   deploy/local/demo_manage.sh sync_models
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/local/demo_env.sh
exec $PY manage.py "$@"

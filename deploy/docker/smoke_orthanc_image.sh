#!/bin/bash
# Smoke test of the Orthanc image: build it, run it as Compose does (same ORTHANC_*
# variables, index in a PostgreSQL database made by init-orthanc-db.sh) and check it.
# Needs (Linux): a Docker daemon, psql, curl, jq, the project's .venv, port 8042 free, and a
# PostgreSQL superuser on 127.0.0.1:5432 (PGUSER, default postgres; PGPASSWORD if needed).
# The container uses the host's network; the temporary database and role and the container
# are removed on exit, the image is kept.
#   deploy/docker/smoke_orthanc_image.sh [IMAGE]     # default sarcopenia/orthanc:smoke
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${1:-sarcopenia/orthanc:smoke}
PY=${PYTHON:-.venv/bin/python}
N=3  # instances stored
export PGHOST=127.0.0.1 PGPORT=5432 PGUSER=${PGUSER:-postgres}
suffix=$(openssl rand -hex 4)
NAME=orthanc-smoke-$suffix DB=orthanc_smoke_$suffix
PASS=$(openssl rand -hex 16) DB_PASS=$(openssl rand -hex 16)
URL=http://127.0.0.1:8042
WORK=$(mktemp -d)

ok() { echo "ok: $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
cleanup() {
  status=$?
  if [ "$status" -ne 0 ] && docker inspect "$NAME" >/dev/null 2>&1; then
    docker logs --tail 40 "$NAME" >&2 || true
  fi
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  psql -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" \
    -c "DROP ROLE IF EXISTS \"$DB\"" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

curl -s -o /dev/null "$URL" && fail "port 8042 is already in use"

echo "building $IMAGE ..."
# Only orthanc.json is copied: a minimal context, same layout as the repository root.
tar -c deploy/docker/orthanc.Dockerfile deploy/docker/orthanc \
  | docker build -q -f deploy/docker/orthanc.Dockerfile -t "$IMAGE" - >/dev/null
ok "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | numfmt --to=iec))"

POSTGRES_USER=$PGUSER POSTGRES_DB=postgres \
  ORTHANC_DB_NAME=$DB ORTHANC_DB_USER=$DB ORTHANC_DB_PASSWORD=$DB_PASS \
  bash deploy/docker/postgres/init-orthanc-db.sh
ok "database and role $DB made by init-orthanc-db.sh"

docker run -d --name "$NAME" --network host --health-interval 2s \
  -e ORTHANC_NAME=smoke-$suffix -e ORTHANC_USERNAME=platform -e ORTHANC_PASSWORD="$PASS" \
  -e ORTHANC_DB_HOST=127.0.0.1 -e ORTHANC_DB_NAME="$DB" -e ORTHANC_DB_USER="$DB" \
  -e ORTHANC_DB_PASSWORD="$DB_PASS" "$IMAGE" >/dev/null
for _ in $(seq 60); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$NAME")
  [ "$health" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$NAME")" = true ] || fail "container exited"
  sleep 1
done
[ "$health" = healthy ] || fail "image HEALTHCHECK: $health"
ok "image HEALTHCHECK reports healthy"

[ "$(docker exec "$NAME" id -un)" = orthanc ] && [ "$(docker exec "$NAME" id -u)" != 0 ] \
  || fail "container does not run as the orthanc user"
ok "runs as $(docker exec "$NAME" id)"

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$URL/system")" = 401 ] || fail "/system without credentials is not 401"
[ "$(code -u platform:wrong "$URL/dicom-web/studies")" = 401 ] || fail "wrong password not 401"
ok "401 without credentials and with a wrong password"

api() { curl -fsS -u "platform:$PASS" "$@"; }
system=$(api "$URL/system")
[ "$(jq -r .Name <<<"$system")" = "smoke-$suffix" ] || fail "ORTHANC_NAME not expanded"
jq -e '.DatabaseBackendPlugin | test("PostgreSQLIndex")' <<<"$system" >/dev/null \
  || fail "not on the PostgreSQL index: $system"
ok "/system: Orthanc $(jq -r .Version <<<"$system"), $(jq -r .DatabaseBackendPlugin <<<"$system")"

study=$("$PY" - "$WORK" "$N" <<'PY'
import sys
from pathlib import Path
from ml_worker.synthetic import make_ct_volume, make_patient, write_ct_series
import pydicom
paths = write_ct_series(make_ct_volume(n_slices=int(sys.argv[2]), rows=32, cols=32),
                        Path(sys.argv[1]), patient=make_patient(0))
print(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
PY
)
{
  for f in $(find "$WORK" -name '*.dcm'); do
    printf -- '--SMOKE\r\nContent-Type: application/dicom\r\n\r\n'; cat "$f"; printf '\r\n'
  done
  printf -- '--SMOKE--\r\n'
} >"$WORK/body"
stow=$(api -H 'Content-Type: multipart/related; type="application/dicom"; boundary=SMOKE' \
  -H 'Accept: application/dicom+json' --data-binary "@$WORK/body" "$URL/dicom-web/studies")
[ "$(jq '."00081199".Value | length' <<<"$stow")" = "$N" ] && ! jq -e 'has("00081198")' <<<"$stow" >/dev/null \
  || fail "STOW-RS: $stow"
ok "STOW-RS stored $N instances"

found=$(api "$URL/dicom-web/studies?StudyInstanceUID=$study" | jq -r '.[]."0020000D".Value[0]')
[ "$found" = "$study" ] || fail "QIDO-RS did not find study $study"
[ "$(api "$URL/dicom-web/studies/$study/instances" | jq length)" = "$N" ] || fail "QIDO-RS instances"
indexed=$(psql -tA -d "$DB" -c "SELECT count(*) FROM resources WHERE resourcetype = 3")
[ "$indexed" = "$N" ] || fail "PostgreSQL index holds $indexed instances, expected $N"
ok "QIDO-RS finds study $study with $N instances; $N instances in $DB.resources"
echo "all checks passed"

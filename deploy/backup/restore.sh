#!/usr/bin/env bash
# Restore a backup made by backup.sh into an EMPTY platform database and an
# EMPTY Orthanc (storage folder, and index database when ORTHANC_DATABASE_URL
# is given). Checks every checksum first; refuses to overwrite existing data.
#
#   DATABASE_URL=postgres://.../platform ORTHANC_STORAGE_DIR=/var/lib/orthanc/db \
#   [ORTHANC_DATABASE_URL=postgres://.../orthanc] deploy/backup/restore.sh BACKUP_DIR
#
# Start Orthanc only after this has finished.
set -euo pipefail

die() { echo "restore: $*" >&2; exit 1; }
src=${1:-}
[ -n "$src" ] && [ -f "$src/MANIFEST.sha256" ] || die "usage: restore.sh BACKUP_DIR (with MANIFEST.sha256)"
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set"

(cd "$src" && sha256sum --check --quiet --strict MANIFEST.sha256) \
  || die "checksum mismatch in $src: the backup is damaged, nothing restored"

tables() {
  psql --dbname="$1" -tAc \
    "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema')"
}
[ "$(tables "$DATABASE_URL")" = "0" ] || die "the target platform database is not empty"
if [ -f "$src/orthanc-index.dump" ]; then
  [ -n "${ORTHANC_DATABASE_URL:-}" ] || die "backup has an Orthanc index database: set ORTHANC_DATABASE_URL"
  [ "$(tables "$ORTHANC_DATABASE_URL")" = "0" ] || die "the target Orthanc index database is not empty"
fi
if [ -f "$src/orthanc-storage.tar.gz" ]; then
  [ -n "${ORTHANC_STORAGE_DIR:-}" ] || die "backup has Orthanc storage: set ORTHANC_STORAGE_DIR"
  mkdir -p "$ORTHANC_STORAGE_DIR"
  [ -z "$(ls -A "$ORTHANC_STORAGE_DIR")" ] || die "ORTHANC_STORAGE_DIR $ORTHANC_STORAGE_DIR is not empty"
fi

pg_restore --dbname="$DATABASE_URL" --no-owner --no-privileges --exit-on-error \
  --single-transaction "$src/platform.dump"
if [ -f "$src/orthanc-index.dump" ]; then
  pg_restore --dbname="$ORTHANC_DATABASE_URL" --no-owner --no-privileges --exit-on-error \
    --single-transaction "$src/orthanc-index.dump"
fi
if [ -f "$src/orthanc-storage.tar.gz" ]; then
  tar --extract --gzip --file="$src/orthanc-storage.tar.gz" --directory="$ORTHANC_STORAGE_DIR"
fi
echo "restored $src"

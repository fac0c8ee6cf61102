#!/usr/bin/env bash
# Back up the platform: its PostgreSQL database and Orthanc's image store
# (the storage folder with its SQLite index, or with the PostgreSQL index when
# the plugin is used), plus a manifest of SHA-256 checksums.
#
#   DATABASE_URL=postgres://... ORTHANC_STORAGE_DIR=/var/lib/orthanc/db \
#   [ORTHANC_DATABASE_URL=postgres://.../orthanc] deploy/backup/backup.sh /backups
#
# Prints the new backup folder (OUT/YYYYmmddTHHMMSSZ). Orthanc must be stopped
# (or its volume snapshotted) while the storage folder is copied, so that index
# and files agree; the platform database is dumped consistently while it runs.
set -euo pipefail
umask 077

die() { echo "backup: $*" >&2; exit 1; }
out_root=${1:-}
[ -n "$out_root" ] || die "usage: backup.sh OUT_DIR"
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set"
[ -z "${ORTHANC_STORAGE_DIR:-}" ] || [ -d "$ORTHANC_STORAGE_DIR" ] \
  || die "ORTHANC_STORAGE_DIR $ORTHANC_STORAGE_DIR is not a folder"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
dest="$out_root/$stamp"
[ ! -e "$dest" ] || die "$dest already exists"
mkdir -p "$dest"
trap 'echo "backup: failed, removing incomplete $dest" >&2; rm -rf "$dest"' ERR

# Custom format: compressed, restorable table by table, checked by pg_restore --list.
pg_dump --dbname="$DATABASE_URL" --format=custom --no-owner --no-privileges \
  --file="$dest/platform.dump"
pg_restore --list "$dest/platform.dump" >/dev/null

if [ -n "${ORTHANC_DATABASE_URL:-}" ]; then
  pg_dump --dbname="$ORTHANC_DATABASE_URL" --format=custom --no-owner --no-privileges \
    --file="$dest/orthanc-index.dump"
fi
if [ -n "${ORTHANC_STORAGE_DIR:-}" ]; then
  tar --create --gzip --file="$dest/orthanc-storage.tar.gz" --directory="$ORTHANC_STORAGE_DIR" .
fi

cat >"$dest/backup.json" <<JSON
{"created_at": "$stamp", "platform_db": "platform.dump",
 "orthanc_storage": $([ -n "${ORTHANC_STORAGE_DIR:-}" ] && echo '"orthanc-storage.tar.gz"' || echo null),
 "orthanc_index_db": $([ -n "${ORTHANC_DATABASE_URL:-}" ] && echo '"orthanc-index.dump"' || echo null),
 "pg_dump": "$(pg_dump --version | tr -d '"')"}
JSON
(cd "$dest" && sha256sum -- * >MANIFEST.sha256)
trap - ERR
echo "$dest"

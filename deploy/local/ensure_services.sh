#!/usr/bin/env bash
# Make sure the services the platform needs locally are installed and running:
# PostgreSQL, Redis, Orthanc with its DICOMweb and PostgreSQL-index plugins, nginx-light (the
# deployed edge's tests), Debian chromium (browser tests).
# Idempotent: does nothing for what is already there. Needs root for installs.
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PostgreSQL on 127.0.0.1:5432, user postgres.
if ! port_open 5432; then
  if ! command -v pg_ctlcluster >/dev/null; then
    log "installing PostgreSQL"; apt_install postgresql
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    # Local development and CI only: trust loopback connections.
    $SUDO sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  log "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 30); do port_open 5432 && break; sleep 1; done
fi

# Redis on 127.0.0.1:6379.
if ! port_open 6379; then
  command -v redis-server >/dev/null || { log "installing Redis"; apt_install redis-server; }
  log "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 30); do port_open 6379 && break; sleep 1; done
fi

# Orthanc with the DICOMweb plugin (started per use by deploy/orthanc/run_orthanc.py) and the
# PostgreSQL-index plugin of the production config (tests/deploy/test_orthanc_postgresql_index.py).
ORTHANC_PLUGINS=/usr/share/orthanc/plugins
if ! command -v Orthanc >/dev/null || [ ! -e "$ORTHANC_PLUGINS/libOrthancDicomWeb.so" ] \
    || [ ! -e "$ORTHANC_PLUGINS/libOrthancPostgreSQLIndex.so" ]; then
  log "installing Orthanc with its DICOMweb and PostgreSQL-index plugins"
  apt_install orthanc orthanc-dicomweb orthanc-postgresql
fi

# nginx (Debian's nginx-light) for the tests and benchmarks of the deployed edge
# (deploy/docker/nginx), run per use by deploy/nginx/run_nginx.py.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  log "installing nginx-light"; apt_install nginx-light
fi

# Node.js and npm for the frontend build and browser tests.
command -v npm >/dev/null || { log "installing Node.js and npm"; apt_install nodejs npm; }

# Debian chromium for the browser tests.
if [ "${WITH_BROWSER:-1}" = "1" ] && [ ! -x /usr/bin/chromium ]; then
  log "installing chromium"; apt_install chromium
fi

port_open 5432 && port_open 6379 || { log "PostgreSQL or Redis did not come up"; exit 1; }
log "PostgreSQL, Redis and Orthanc are available"

#!/bin/bash
# First start of the PostgreSQL container only: a database and role for Orthanc's
# index, next to the platform's database (POSTGRES_DB).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v name="$ORTHANC_DB_NAME" -v user="$ORTHANC_DB_USER" -v pass="$ORTHANC_DB_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'pass';
CREATE DATABASE :"name" OWNER :"user";
SQL

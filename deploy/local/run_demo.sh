#!/usr/bin/env bash
# Run the whole platform locally with demo data: Orthanc on loopback, a Celery
# worker for each queue, the web app, and in front of it the deployed nginx
# (deploy/docker/nginx) on http://127.0.0.1:8000 with its image access log
# shipped into the audit log.
# Called by `make demo` after the install steps. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/local/demo_env.sh

db=${DATABASE_URL##*/}
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
  || createdb -h 127.0.0.1 -U postgres "$db"

$PY manage.py migrate --no-input -v0
$PY manage.py seed_demo

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

$PY deploy/orthanc/run_orthanc.py --storage var/orthanc --port "$ORTHANC_PORT" \
  >var/log/orthanc.log 2>&1 & pids+=($!)
orthanc_up() {
  curl -sf -u "$ORTHANC_USERNAME:$ORTHANC_PASSWORD" "http://127.0.0.1:${ORTHANC_PORT}/system" >/dev/null
}
for _ in $(seq 60); do orthanc_up && break; sleep 0.5; done
orthanc_up || { echo "Orthanc did not start:"; tail -5 var/log/orthanc.log; exit 1; }

# Demo studies: anatomical CT phantoms with canary PHI, ingested like hospital
# uploads (validated, de-identified, stored). Re-running finds them as duplicates.
if [ ! -f var/demo_dicom/manifest.jsonl ]; then
  $PY -m ml_worker.synthetic --phantom --out var/demo_dicom --patients 4 --fov mixed \
    --centres NVH,RMC --rows 256 --slice-thickness 2.5 --seed 7
fi
# (only the DICOM files: the phantom folders also hold its ground-truth masks)
$PY manage.py ingest_dicom $(find var/demo_dicom/NVH -name '*.dcm') \
  --project sarcopenia-l3 --user investigator_nvh
$PY manage.py ingest_dicom $(find var/demo_dicom/RMC -name '*.dcm') \
  --project sarcopenia-l3 --user investigator_rmc

# A small level classifier trained on phantoms (a few minutes on CPU), once.
if [ ! -f var/models/spine-levels/current.json ]; then
  echo "Training the demo model on phantoms (tiny EfficientNetV2-style net, CPU)..."
  $PY -m ml_worker.training.train --preset demo --out var/training/demo \
    --register-to var/models --model-name spine-levels --quiet
fi

(cd platform && ../.venv/bin/celery -A config worker -Q default -n default@%h \
  --concurrency 2 --loglevel INFO) >var/log/worker-default.log 2>&1 & pids+=($!)
.venv/bin/celery -A ml_worker.celery_app worker -Q gpu -n gpu@%h --pool solo \
  --loglevel INFO >var/log/worker-gpu.log 2>&1 & pids+=($!)
$PY manage.py classify_series --project sarcopenia-l3 --user admin_nvh

# As deployed: nginx in front (static files, DICOMweb pixels straight from
# Orthanc once the platform allowed the study), its access log shipped into
# the audit log, the app behind it.
$PY manage.py collectstatic --no-input -v0
$PY deploy/nginx/run_nginx.py --upstream "127.0.0.1:${APP_PORT}" --port "$WEB_PORT" \
  --workdir var/nginx --static platform/staticfiles --dicomweb-url "$DICOMWEB_URL" \
  >var/log/nginx.log 2>&1 & pids+=($!)
$PY manage.py ship_image_access_log var/nginx/image-access --follow \
  >var/log/image-access-shipper.log 2>&1 & pids+=($!)

echo "Platform: http://127.0.0.1:${WEB_PORT}/  (logs in var/log/, Ctrl-C to stop)"
$PY manage.py runserver "127.0.0.1:${APP_PORT}" --noreload

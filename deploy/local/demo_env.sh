# The demo's environment, sourced by run_demo.sh and demo_manage.sh (run from
# the repository root): local secrets generated once into var/demo.env (var/
# is ignored by git), then the services' addresses.
PY=.venv/bin/python
mkdir -p var/log
if [ ! -f var/demo.env ]; then
  rand() { $PY -c 'import secrets; print(secrets.token_urlsafe(32))'; }
  (
    umask 077
    cat > var/demo.env <<ENV
SECRET_KEY=$(rand)
ORTHANC_USERNAME=platform
ORTHANC_PASSWORD=$(rand)
DEID_KEY=$(rand)
ENV
  )
fi
set -a; source var/demo.env; set +a

export DEBUG=${DEBUG:-1}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sarcopenia}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
ORTHANC_PORT=${ORTHANC_PORT:-8042}
export DICOMWEB_URL=http://127.0.0.1:${ORTHANC_PORT}/dicom-web
export DICOMWEB_USERNAME=$ORTHANC_USERNAME DICOMWEB_PASSWORD=$ORTHANC_PASSWORD
export MODEL_REGISTRY_DIR=$PWD/var/models
WEB_PORT=${WEB_PORT:-8000}  # nginx, the address users open
APP_PORT=${APP_PORT:-8001}  # the Django app behind it

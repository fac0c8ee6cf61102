# The platform's images, built from the repository root:
#   docker build -f deploy/docker/app.Dockerfile --target web    -t sarcopenia/web:TAG .
#   docker build -f deploy/docker/app.Dockerfile --target worker -t sarcopenia/worker:TAG .
#   docker build -f deploy/docker/app.Dockerfile --target proxy  -t sarcopenia/proxy:TAG .
# (the GPU worker has its own file: gpu-worker.Dockerfile)

# --- the browser viewer, built by Vite into frontend/dist ---------------------
FROM node:20.18.1-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm run build

# --- Python dependencies and the code ----------------------------------------
FROM python:3.11.7-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VAR_DIR=/var/lib/platform MODEL_REGISTRY_DIR=/var/lib/platform/models \
    PYTHONPATH=/app/platform:/app
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 postgresql-client curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app platform
WORKDIR /app
COPY requirements/lock.txt requirements/lock.txt
RUN pip install -r requirements/lock.txt
COPY manage.py pyproject.toml ./
COPY platform/ platform/
COPY ml_worker/ ml_worker/
COPY deploy/backup/ deploy/backup/
COPY --from=frontend /src/frontend/dist/ frontend/dist/
# collectstatic needs settings that import; these values exist only in this step.
RUN DEBUG=0 SECRET_KEY=collectstatic-only DEID_KEY=collectstatic-only \
    python manage.py collectstatic --no-input -v0 \
    && mkdir -p /var/lib/platform && chown platform /var/lib/platform
USER platform

# --- gunicorn (behind the proxy) ---------------------------------------------
FROM app AS web
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD curl -fsS -H 'Host: localhost' http://127.0.0.1:8000/healthz || exit 1
CMD ["gunicorn", "--chdir", "platform", "config.wsgi:application", \
     "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "120", \
     "--forwarded-allow-ips", "*", "--access-logfile", "-"]

# --- Celery worker of the `default` queue --------------------------------------
FROM app AS worker
WORKDIR /app/platform
CMD ["celery", "-A", "config", "worker", "-Q", "default", "-n", "default@%h", \
     "--concurrency", "4", "--loglevel", "INFO"]

# --- nginx: static files (incl. frontend/dist under /static/viewer/), the viewer's
# DICOMweb pixels and files straight from Orthanc once the platform allowed them
# (the image path, deploy/README.md), and proxying
FROM nginx:1.27.3-bookworm AS proxy
COPY --from=app /app/platform/staticfiles/ /srv/static/
COPY deploy/docker/nginx/default.conf.template /etc/nginx/templates/default.conf.template
# Run by the image's entrypoint before it renders the template (20-envsubst-on-templates.sh):
# the image store's Authorization header from ORTHANC_USERNAME/ORTHANC_PASSWORD, and the
# image path's folders (made again at start: a volume mounted there may be empty or root's).
COPY deploy/docker/nginx/18-image-store-authorization.envsh \
     deploy/docker/nginx/19-image-access-folders.sh /docker-entrypoint.d/
RUN chmod 0755 /docker-entrypoint.d/18-image-store-authorization.envsh \
       /docker-entrypoint.d/19-image-access-folders.sh \
    && mkdir -p /var/log/nginx/image-access /var/cache/nginx/image-access \
    && chown nginx:nginx /var/log/nginx/image-access /var/cache/nginx/image-access \
    && chmod 2775 /var/log/nginx/image-access && chmod 0700 /var/cache/nginx/image-access
# IMAGE_STORE_AUTHORIZATION (secret) is built by the .envsh above; the log folder is shared
# with the shipper (manage.py ship_image_access_log), the cache belongs on a tmpfs.
ENV WEB_UPSTREAM=web:8000 CLIENT_MAX_BODY_SIZE=2g \
    IMAGE_STORE_UPSTREAM=orthanc:8042 IMAGE_STORE_ROOT=/dicom-web \
    IMAGE_ACCESS_LOG_DIR=/var/log/nginx/image-access \
    IMAGE_ACCESS_CACHE=/var/cache/nginx/image-access \
    IMAGE_ACCESS_GRANT_SECONDS=10
EXPOSE 8080

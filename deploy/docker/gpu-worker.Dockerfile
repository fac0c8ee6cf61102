# The GPU Celery worker (queue `gpu`, ml_worker only, no Django), from the repository root:
#   docker build -f deploy/docker/gpu-worker.Dockerfile -t sarcopenia/gpu-worker:TAG .
# One worker process per GPU (--pool solo, concurrency 1): scale with replicas,
# each container (pod) given one GPU by the NVIDIA container toolkit / device plugin.
FROM nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 MODEL_REGISTRY_DIR=/var/lib/platform/models
# The project needs Python 3.11 (Ubuntu 24.04 ships 3.12): deadsnakes packages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && useradd --system --uid 10001 --home-dir /app platform
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements/lock.txt requirements/lock.txt
RUN pip install -r requirements/lock.txt
COPY ml_worker/ ml_worker/
RUN mkdir -p /var/lib/platform/models && chown -R platform /var/lib/platform
USER platform
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s \
    CMD celery -A ml_worker.celery_app inspect ping -d "gpu@$HOSTNAME" || exit 1
CMD ["sh", "-c", "exec celery -A ml_worker.celery_app worker -Q gpu -n gpu@$HOSTNAME --pool solo --concurrency 1 --loglevel INFO"]

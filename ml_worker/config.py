"""Worker settings from the environment (no Django here)."""

import os

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
DICOMWEB_URL = os.environ.get("DICOMWEB_URL", "http://127.0.0.1:8042/dicom-web")
# Seconds before a killed worker's unacknowledged task is delivered again.
VISIBILITY_TIMEOUT_S = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3900"))
TASK_TIME_LIMIT_S = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "3600"))
DICOMWEB_USERNAME = os.environ.get("DICOMWEB_USERNAME", "")
DICOMWEB_PASSWORD = os.environ.get("DICOMWEB_PASSWORD", "")
# Model registry on local disk (never downloaded) and the model the workers run.
MODEL_REGISTRY_DIR = os.environ.get("MODEL_REGISTRY_DIR", "var/models")
MODEL_NAME = os.environ.get("MODEL_NAME", "spine-levels")
INFERENCE_BATCH_SIZE = int(os.environ.get("INFERENCE_BATCH_SIZE", "8"))

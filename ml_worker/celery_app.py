"""The GPU worker's own Celery app, Django-free. It serves the `gpu` queue and
reports back to the platform by task name on the `default` queue.

Run: celery -A ml_worker.celery_app worker -Q gpu --pool=solo --concurrency=1"""

from celery import Celery

from ml_worker import config

app = Celery("ml_worker", broker=config.REDIS_URL, backend=config.REDIS_URL)
app.conf.update(
    task_default_queue="gpu",
    task_routes={"ml_worker.*": {"queue": "gpu"}, "analysis.*": {"queue": "default"}},
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=config.TASK_TIME_LIMIT_S,
    task_soft_time_limit=max(config.TASK_TIME_LIMIT_S - 300, 60),
    broker_transport_options={"visibility_timeout": config.VISIBILITY_TIMEOUT_S},
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=86400,
)
app.autodiscover_tasks(["ml_worker"], related_name="tasks", force=True)

"""Celery tasks of the `gpu` queue. Thin: report start, call the pure function,
report the result or the failure. They take a job id and never touch the
platform's database."""

import logging
from typing import Any

from ml_worker.celery_app import app
from ml_worker.reporting import JobReporter
from ml_worker.runtime import describe_runtime

logger = logging.getLogger(__name__)


@app.task(name="ml_worker.worker_info", acks_late=True)
def worker_info(job_id: int, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    reporter = JobReporter(app, job_id)
    reporter.started()
    try:
        info = describe_runtime()
    except Exception as exc:
        logger.exception("job %s: worker_info failed", job_id)
        reporter.failed(f"{type(exc).__name__}: {exc}")
        raise
    reporter.succeeded(info)
    return info

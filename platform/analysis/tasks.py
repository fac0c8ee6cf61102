"""Platform tasks on the `default` queue. GPU workers never touch the database:
they send their reports here by task name."""

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from analysis.services import job_apply_report


# A report must not be lost while PostgreSQL restarts: connection errors retry
# with backoff (about 4 minutes in all); applying a report twice is harmless.
@shared_task(
    name="analysis.job_report",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=False,
    max_retries=12,
)
def job_report(
    job_id: int,
    state: str,
    progress: float | None = None,
    message: str = "",
    result: dict[str, Any] | None = None,
    error: str = "",
    started: bool = False,
) -> None:
    job_apply_report(
        job_id=job_id,
        state=state,
        progress=progress,
        message=message,
        result=result,
        error=error,
        started=started,
    )

"""Platform tasks on the `default` queue. GPU workers never touch the database:
they send their reports here by task name."""

from typing import Any

from celery import shared_task

from analysis.services import job_apply_report


@shared_task(name="analysis.job_report", acks_late=True, max_retries=5)
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

"""Job reports from the worker to the platform, by task name (the documented
result schema: job_id, state, progress, message, result, error, started)."""

from typing import Any

from celery import Celery

REPORT_TASK = "analysis.job_report"


class JobReporter:
    def __init__(self, app: Celery, job_id: int) -> None:
        self.app = app
        self.job_id = job_id

    def _send(self, **kwargs: Any) -> None:
        self.app.send_task(REPORT_TASK, kwargs={"job_id": self.job_id, **kwargs}, queue="default")

    def started(self) -> None:
        self._send(state="running", progress=0.0, message="started", started=True)

    def progress(self, fraction: float, message: str = "") -> None:
        self._send(state="running", progress=fraction, message=message)

    def succeeded(self, result: dict[str, Any], message: str = "done") -> None:
        self._send(state="succeeded", progress=1.0, message=message, result=result)

    def failed(self, error: str) -> None:
        self._send(state="failed", message="failed", error=error[:4000])

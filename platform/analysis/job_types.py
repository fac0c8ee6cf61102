"""The kinds of job the platform can start: which Celery task (by name, so the
platform never imports ml_worker), which queue, what the starter must be
allowed to do, and what the job runs on."""

from dataclasses import dataclass
from enum import StrEnum

from projects.roles import Capability


class Target(StrEnum):
    PROJECT = "project"
    SERIES = "series"


@dataclass(frozen=True)
class JobType:
    name: str
    task_name: str
    queue: str
    capability: Capability
    target: Target
    description: str


JOB_TYPES: dict[str, JobType] = {
    jt.name: jt
    for jt in [
        JobType(
            name="worker_info",
            task_name="ml_worker.worker_info",
            queue="gpu",
            capability=Capability.MANAGE_PROJECT,
            target=Target.PROJECT,
            description="Report a GPU worker's device, memory and software versions.",
        ),
        JobType(
            name="classify_levels",
            task_name="ml_worker.classify_levels",
            queue="gpu",
            capability=Capability.RUN_JOBS,
            target=Target.SERIES,
            description="Find the spine level of every slice of a CT series, with Grad-CAM.",
        ),
    ]
}

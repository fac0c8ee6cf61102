"""The kinds of job the platform can start: which Celery task (by name, so the
platform never imports ml_worker), which queue, what the starter must be
allowed to do, and what the job runs on."""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from analysis.bodycomp.levels import bodycomp_parameters
from imaging.models import Series
from learning.selectors import classify_parameters
from projects.roles import Capability

# Turns the starter's parameters into the task's (validating them; may raise
# ApplicationError), for job types whose task needs more than the request says.
PrepareParameters = Callable[..., dict[str, Any]]


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
    prepare: PrepareParameters | None = None

    def task_parameters(
        self, *, series: Series | None, parameters: dict[str, Any]
    ) -> dict[str, Any]:
        if self.prepare is None:
            return parameters
        return self.prepare(series=series, parameters=parameters)


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
            description=(
                "Find the spine level of every slice of a CT series, with Grad-CAM, using "
                "the project's promoted model version (or a named registered one)."
            ),
            prepare=classify_parameters,
        ),
        JobType(
            name="measure_body_composition",
            task_name="ml_worker.measure_body_composition",
            queue="gpu",
            capability=Capability.RUN_JOBS,
            target=Target.SERIES,
            description=(
                "Segment muscle and fat at chosen levels (mid-slice ± k) and measure them; "
                'parameters {"levels": ["L3"], "method": "threshold"|"network", '
                '"slices_around": k}.'
            ),
            prepare=bodycomp_parameters,
        ),
    ]
}

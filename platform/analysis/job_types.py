"""The kinds of job the platform can start: which Celery task (by name, so the
platform never imports ml_worker), which queue, what the starter must be
allowed to do, and what the job runs on."""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from analysis.bodycomp.levels import bodycomp_parameters
from imaging.models import Series
from learning.jobs import dataset_payload, evaluation_parameters, training_parameters
from learning.selectors import classify_parameters
from projects.roles import Capability

# Turns the starter's parameters into the task's (validating them; may raise
# ApplicationError), for job types whose task needs more than the request says.
PrepareParameters = Callable[..., dict[str, Any]]
# Extra task arguments built from the prepared parameters, sent with the task
# but not stored on the Job (a dataset version's manifest rows).
TaskPayload = Callable[[dict[str, Any]], dict[str, Any]]


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
    payload: TaskPayload | None = None

    def task_parameters(
        self, *, series: Series | None, parameters: dict[str, Any], project: Any = None
    ) -> dict[str, Any]:
        if self.prepare is None:
            return parameters
        if self.target is Target.PROJECT:  # project-wide jobs check against the project
            return self.prepare(project=project, series=series, parameters=parameters)
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
        JobType(
            name="train_classifier",
            task_name="ml_worker.train_classifier",
            queue="gpu",
            capability=Capability.MANAGE_PROJECT,
            target=Target.PROJECT,
            description=(
                "Train a level classifier on a dataset version (its own splits; held-out "
                'centres validate externally); parameters {"dataset": id, "preset": '
                '"demo"|"reference", "epochs": n}. Registered with its metrics, not promoted.'
            ),
            prepare=training_parameters,
            payload=dataset_payload,
        ),
        JobType(
            name="evaluate_classifier",
            task_name="ml_worker.evaluate_classifier",
            queue="gpu",
            capability=Capability.MANAGE_PROJECT,
            target=Target.PROJECT,
            description=(
                "Evaluate a model version on a dataset version's test split and each "
                'held-out centre; parameters {"model": id, "dataset": id}. Below the '
                "thresholds the version is marked failed."
            ),
            prepare=evaluation_parameters,
            payload=dataset_payload,
        ),
    ]
}

"""Shared data for the body composition tests: the worker's example result
(bench/bodycomp/result_example.json) and measurement rows stored from it."""

import copy
import json
from pathlib import Path
from typing import Any

from analysis.bodycomp.store import measurements_store
from analysis.models import BodyCompositionMeasurement, Job
from tests import factories

EXAMPLE = Path(__file__).resolve().parents[2] / "bench" / "bodycomp" / "result_example.json"


def example_result() -> dict[str, Any]:
    return copy.deepcopy(json.loads(EXAMPLE.read_text()))


def stored_measurements(series: Any, **job_fields: Any) -> list[BodyCompositionMeasurement]:
    """A succeeded measure_body_composition job of `series` with the example's
    rows (L3 ok, L1 no_cutoff_for_level)."""
    job: Job = factories.JobFactory(
        project=series.study.project,
        institution=series.study.institution,
        series=series,
        job_type="measure_body_composition",
        state="succeeded",
        parameters={"level_source": "model"},
        **job_fields,
    )
    measurements_store(job, example_result())
    return list(BodyCompositionMeasurement.objects.filter(job=job).order_by("level"))

"""Storing what a worker returned, per job type. The handler turns the
worker's full result into rows and returns the compact summary kept on the
Job. Handlers run inside job_apply_report's transaction, once per job."""

import base64
import binascii
from collections.abc import Callable
from typing import Any

from analysis.bodycomp.store import measurements_store
from analysis.masks.store import remeasure_store
from analysis.models import Job, SeriesLevels
from core.errors import ApplicationError
from learning.evaluations import evaluation_store, training_store

LEVELS_SCHEMA = "spine-levels/1"


def series_levels_store(job: Job, result: dict[str, Any]) -> dict[str, Any]:
    """Schema `spine-levels/1` (see ml_worker/tasks.py)."""
    if result.get("schema") != LEVELS_SCHEMA or job.series_id is None:
        raise ApplicationError("Unexpected classification result schema.")
    slices, cams = result["slices"], result.get("cams") or {}
    try:
        cam_bytes = base64.b64decode(cams.get("data", ""), validate=True)
    except binascii.Error as exc:
        raise ApplicationError("Corrupt class activation maps in the result.") from exc
    levels = SeriesLevels.objects.create(
        job=job,
        series_id=job.series_id,
        model_name=result["model"]["name"],
        model_version=result["model"]["version"],
        slice_sop_instance_uids=slices["sop_instance_uids"],
        slice_positions_mm=slices.get("positions_mm", []),
        slice_levels=slices["levels"],
        slice_confidence=slices["confidence"],
        slice_probabilities=slices["probabilities"],
        ranges=result["ranges"],
        flags=result["flags"],
        cams=cam_bytes,
        cam_shape=cams.get("shape", []),
        sr_sop_instance_uid=(result.get("sr") or {}).get("sop_instance_uid", ""),
    )
    return {
        "schema": LEVELS_SCHEMA,
        "series_levels": levels.pk,
        "model": result["model"],
        "ranges": result["ranges"],
        "flags": result["flags"],
        "sr": result.get("sr"),
        "timings": result.get("timings", {}),
    }


RESULT_HANDLERS: dict[str, Callable[[Job, dict[str, Any]], dict[str, Any]]] = {
    "classify_levels": series_levels_store,
    "measure_body_composition": measurements_store,
    "remeasure_body_composition": remeasure_store,
    "train_classifier": training_store,
    "evaluate_classifier": evaluation_store,
}


def result_store(job: Job, result: dict[str, Any] | None) -> dict[str, Any] | None:
    handler = RESULT_HANDLERS.get(job.job_type)
    if handler is None or result is None:
        return result
    return handler(job, result)

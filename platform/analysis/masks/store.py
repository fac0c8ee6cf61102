"""Storing a `remeasure_body_composition` result (schema
"body-composition-remeasure/1", ml_worker/bodycomp/remeasure.py): the level's
values measured from a corrected mask replace the row's, unless the masks
changed again meanwhile (a newer job is on its way: the stale result is kept
on the Job only)."""

from typing import Any

from analysis.bodycomp.store import MEASURES, _number
from analysis.models import BodyCompositionMeasurement, Job
from core.errors import ApplicationError

SCHEMA = "body-composition-remeasure/1"


def remeasure_store(job: Job, result: dict[str, Any]) -> dict[str, Any]:
    if result.get("schema") != SCHEMA:
        raise ApplicationError("Unexpected re-measurement result schema.")
    row = (
        BodyCompositionMeasurement.objects.select_for_update()
        .filter(pk=job.parameters.get("measurement"), series_id=job.series_id)
        .first()
    )
    if row is None:
        raise ApplicationError("The measurement of this re-measurement is gone.")
    level, revision = result["level"], int(result["revision"])
    applied = revision == row.mask_revision and revision == int(job.parameters["revision"])
    if applied:
        for key in MEASURES:
            setattr(row, key, _number(level.get(key)))
        row.status = str(level["status"])[:32]
        row.issues = list(level.get("issues") or [])
        row.n_slices = int(level.get("n_slices") or 0)
        row.n_slices_used = int(level.get("n_slices_used") or 0)
        row.flags = list(level.get("flags") or [])
        row.slices = list(level.get("slices") or [])
        row.measured_revision = revision
        # The corrected masks' own SEG and SR (none when nothing was measured).
        seg, sr = result.get("seg") or {}, result.get("sr") or {}
        row.seg_sop_instance_uid = str(seg.get("sop_instance_uid", ""))[:64]
        row.seg_series_instance_uid = str(seg.get("series_instance_uid", ""))[:64]
        row.sr_sop_instance_uid = str(sr.get("sop_instance_uid", ""))[:64]
        row.sr_series_instance_uid = str(sr.get("series_instance_uid", ""))[:64]
        row.save()
    return {
        "schema": SCHEMA,
        "measurement": row.pk,
        "revision": revision,
        "applied": applied,
        "status": level.get("status"),
        "muscle_area_cm2": level.get("muscle_area_cm2"),
        "smi_cm2_m2": level.get("smi_cm2_m2"),
        "seg": result.get("seg"),
        "sr": result.get("sr"),
    }

"""Storing a `measure_body_composition` result (schema `body-composition/1`,
ml_worker/bodycomp/pipeline.py): one BodyCompositionMeasurement per (job,
level). Idempotent: a retried store updates the same rows, never adds any."""

from typing import Any

from analysis.models import BodyCompositionMeasurement, Job
from core.errors import ApplicationError

SCHEMA = "body-composition/1"
MEASURES = (
    "muscle_area_cm2",
    "imat_area_cm2",
    "sat_area_cm2",
    "vat_area_cm2",
    "muscle_density_hu",
    "smi_cm2_m2",
    "vat_sat_ratio",
    "bmi_kg_m2",
)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApplicationError(f"Measurement {value!r} is not a number.")
    return float(value)


def _level_defaults(
    job: Job, result: dict[str, Any], row: dict[str, Any], masks: dict[str, Any]
) -> dict[str, Any]:
    patient, model = result.get("patient") or {}, result["model"]
    seg, sr = result.get("seg") or {}, result.get("sr") or {}
    uids = [s["sop_instance_uid"] for s in row.get("slices", [])]
    return {
        "series_id": job.series_id,
        "level_source": str(job.parameters.get("level_source", ""))[:16],
        "status": str(row["status"])[:32],
        "issues": list(row.get("issues") or []),
        "n_slices": int(row.get("n_slices") or 0),
        "n_slices_used": int(row.get("n_slices_used") or 0),
        **{key: _number(row.get(key)) for key in MEASURES},
        "height_m": _number(patient.get("height_m")),
        "weight_kg": _number(patient.get("weight_kg")),
        "sex": str(patient.get("sex") or "")[:1],
        "patient_source": patient.get("source") or {},
        "flags": list(row.get("flags") or []),
        "slices": list(row.get("slices") or []),
        "method": str(result.get("method", ""))[:16],
        "model_name": str(model["name"])[:64],
        "model_version": str(model["version"])[:64],
        "model_sha256": str(model.get("sha256") or "")[:64],
        "seg_sop_instance_uid": seg.get("sop_instance_uid", ""),
        "seg_series_instance_uid": seg.get("series_instance_uid", ""),
        "sr_sop_instance_uid": sr.get("sop_instance_uid", ""),
        "sr_series_instance_uid": sr.get("series_instance_uid", ""),
        "masks": [masks[u] for u in uids if u in masks],
    }


def measurements_store(job: Job, result: dict[str, Any]) -> dict[str, Any]:
    """The result handler (analysis.results.RESULT_HANDLERS). Returns the
    compact summary kept on the Job; the masks stay on the rows only."""
    if result.get("schema") != SCHEMA or job.series_id is None:
        raise ApplicationError("Unexpected body composition result schema.")
    masks = {m["sop_instance_uid"]: m for m in (result.get("masks") or {}).get("slices", [])}
    summary = []
    for row in result["levels"]:
        measurement, _ = BodyCompositionMeasurement.objects.update_or_create(
            job=job, level=str(row["level"])[:8], defaults=_level_defaults(job, result, row, masks)
        )
        summary.append(
            {
                "measurement": measurement.pk,
                "level": measurement.level,
                "status": measurement.status,
                "smi_cm2_m2": measurement.smi_cm2_m2,
                "muscle_area_cm2": measurement.muscle_area_cm2,
            }
        )
    return {
        "schema": SCHEMA,
        "method": result.get("method"),
        "model": result["model"],
        "levels": summary,
        "seg": result.get("seg"),
        "sr": result.get("sr"),
        "timings": result.get("timings", {}),
    }

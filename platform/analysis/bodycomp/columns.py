"""The export's columns and data dictionary. Each column reads one row of
`measurement_values` (a `.values()` dict: no model instances, so 10,000 rows
export in well under a second of Python). Provenance: model name, version and
sha256, method, where the level's slices came from, who verified the series'
labels and when (only when they are verified), whether the masks were
corrected (by whom, when) and who verified them, job id, created_at."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from analysis.bodycomp.selectors import age_band_of
from analysis.models import BodyCompositionMeasurement
from annotations.models import ReviewStatus

Row = dict[str, Any]
_STUDY = "series__study__"
_REVIEW = "series__label_review__"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # "string" | "integer" | "float" | "datetime"
    unit: str
    description: str
    value: Callable[[Row], Any]


def _field(name: str, type_: str, unit: str, description: str, lookup: str = "") -> Column:
    key = lookup or name
    return Column(name, type_, unit, description, lambda r: r[key])


def _measure(name: str, unit: str, description: str) -> Column:
    return _field(name, "float", unit, f"{description} Null when not measured (see status).")


def _verified(key: str) -> Callable[[Row], Any]:
    return lambda r: r[key] if r[_REVIEW + "status"] == ReviewStatus.VERIFIED else None


def _mask_verified(key: str) -> Callable[[Row], Any]:
    return lambda r: r[key] if r["mask_review_status"] == ReviewStatus.VERIFIED else None


COLUMNS: list[Column] = [
    _field("measurement_id", "integer", "", "Row id on the platform.", "id"),
    _field("project", "string", "", "Project slug.", _STUDY + "project__slug"),
    _field("institution", "string", "", "Code of the uploading centre.",
           _STUDY + "institution__code"),
    _field("patient_pseudonym", "string", "", "Per-project patient pseudonym.",
           _STUDY + "patient_pseudonym"),
    _field("sex", "string", "", "Patient sex from the de-identified headers (F, M, O or empty).",
           _STUDY + "patient_sex"),
    _field("age_years", "integer", "years", "Patient age at the study.",
           _STUDY + "patient_age_years"),
    Column("age_band", "string", "years", "Age band (<40, 40-49, ..., 80+).",
           lambda r: age_band_of(r[_STUDY + "patient_age_years"])),
    _field("study_instance_uid", "string", "", "De-identified Study Instance UID.",
           _STUDY + "study_instance_uid"),
    _field("series_instance_uid", "string", "", "De-identified Series Instance UID.",
           "series__series_instance_uid"),
    _field("level", "string", "", "Spine level measured (e.g. L3)."),
    _field("status", "string", "", "ok, or the first issue; values may then be null."),
    Column("issues", "string", "", "All issue codes, ';'-separated (missing_height, missing_sex, "
           "empty_mask, outside_body, missing_pixel_spacing, no_cutoff_for_level, ...).",
           lambda r: ";".join(r["issues"])),
    _field("n_slices", "integer", "", "Slices requested for the level (mid-slice ± k)."),
    _field("n_slices_used", "integer", "", "Slices measured and averaged."),
    _measure("muscle_area_cm2", "cm2", "Skeletal muscle area (-29..150 HU), mean over slices."),
    _measure("imat_area_cm2", "cm2", "Intermuscular adipose tissue area."),
    _measure("sat_area_cm2", "cm2", "Subcutaneous adipose tissue area."),
    _measure("vat_area_cm2", "cm2", "Visceral adipose tissue area."),
    _measure("muscle_density_hu", "HU", "Mean attenuation of skeletal muscle."),
    _measure("smi_cm2_m2", "cm2/m2", "Skeletal muscle index: muscle area / height squared."),
    _measure("vat_sat_ratio", "", "Visceral / subcutaneous fat area."),
    _measure("bmi_kg_m2", "kg/m2", "Body mass index from height and weight."),
    _measure("height_m", "m", "Height used (PatientSize or job parameters)."),
    _measure("weight_kg", "kg", "Weight used (PatientWeight or job parameters)."),
    Column("sarcopenia_low", "string", "", "Cut-offs the row is below, ';'-separated (e.g. "
           "prado2008_smi); thresholds and citations in flags_json.",
           lambda r: ";".join(f["cutoff"] for f in r["flags"] if f.get("low"))),
    Column("flags_json", "string", "", "Every cut-off applied (JSON): cutoff, measure, value, "
           "threshold, unit, low (true/false/null), citation, reason.",
           lambda r: json.dumps(r["flags"], ensure_ascii=False)),
    _field("method", "string", "", "Segmentation method: threshold or network."),
    _field("model_name", "string", "", "Segmentation model name."),
    _field("model_version", "string", "", "Segmentation model version."),
    _field("model_sha256", "string", "", "sha256 of the model file (network method)."),
    _field("level_source", "string", "", "Where the slices came from: model (classification) "
           "or verified (human labels)."),
    Column("labels_review_status", "string", "", "Review state of the series' level labels.",
           lambda r: r[_REVIEW + "status"] or ReviewStatus.OPEN.value),
    Column("labels_verified_by", "string", "", "Reviewer who verified the labels, if verified.",
           _verified(_REVIEW + "actor__username")),
    Column("labels_verified_at", "datetime", "UTC", "When the labels were verified.",
           _verified(_REVIEW + "at")),
    _field("mask_source", "string", "", "Masks measured: model (as segmented) or corrected "
           "(painted by a labeler in the viewer, then measured again)."),
    _field("mask_revision", "integer", "", "Revision of the masks the values come from "
           "(0: the model's).", "measured_revision"),
    _field("mask_corrected_by", "string", "", "Labeler of the latest correction, if corrected.",
           "corrected_by__username"),
    _field("mask_corrected_at", "datetime", "UTC", "When the masks were last corrected.",
           "corrected_at"),
    _field("mask_review_status", "string", "", "Review state of the masks: open, submitted, "
           "verified, returned."),
    Column("mask_verified_by", "string", "", "Reviewer who verified the masks, if verified.",
           _mask_verified("mask_review_by__username")),
    Column("mask_verified_at", "datetime", "UTC", "When the masks were verified.",
           _mask_verified("mask_review_at")),
    _field("job_id", "integer", "", "The measuring job."),
    _field("created_at", "datetime", "UTC", "When the result was stored."),
    _field("seg_sop_instance_uid", "string", "", "DICOM SEG of the masks in the image store."),
    _field("sr_sop_instance_uid", "string", "", "DICOM SR (TID 1500) of the measurements."),
]  # fmt: skip

LOOKUPS = (
    "id", "level", "status", "issues", "n_slices", "n_slices_used", "muscle_area_cm2",
    "imat_area_cm2", "sat_area_cm2", "vat_area_cm2", "muscle_density_hu", "smi_cm2_m2",
    "vat_sat_ratio", "bmi_kg_m2", "height_m", "weight_kg", "flags", "method", "model_name",
    "model_version", "model_sha256", "level_source", "job_id", "created_at",
    "seg_sop_instance_uid", "sr_sop_instance_uid", "series__series_instance_uid",
    _STUDY + "project__slug", _STUDY + "institution__code", _STUDY + "patient_pseudonym",
    _STUDY + "patient_sex", _STUDY + "patient_age_years", _STUDY + "study_instance_uid",
    _REVIEW + "status", _REVIEW + "actor__username", _REVIEW + "at", "mask_source",
    "measured_revision", "corrected_by__username", "corrected_at", "mask_review_status",
    "mask_review_by__username", "mask_review_at",
)  # fmt: skip


def export_rows(queryset: QuerySet[BodyCompositionMeasurement]) -> list[list[Any]]:
    return [[c.value(r) for c in COLUMNS] for r in queryset.values(*LOOKUPS).iterator(2000)]

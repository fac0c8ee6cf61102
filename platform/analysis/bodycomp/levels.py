"""Parameters of a `measure_body_composition` job: the chosen levels' mid-slice
(± k) SOP Instance UIDs, from the series' verified labels when a reviewer has
verified them, else from its latest classification; plus the patient's height,
weight and sex from the de-identified index (missing ones the worker reads
from the DICOM headers)."""

from typing import Any

from analysis.models import JobState, SeriesLevels
from annotations.models import ReviewStatus, SeriesReview
from core.errors import ApplicationError
from imaging.models import Series

METHODS = ("threshold", "network")
MAX_AROUND = 5
MAX_LEVELS = 8


def bodycomp_parameters(*, series: Series, parameters: dict[str, Any]) -> dict[str, Any]:
    """Validate the starter's parameters and return the task's (see
    ml_worker/bodycomp/job.py). Raises ApplicationError (400) with a clear message."""
    levels, method, around = _validate(parameters)
    source, spans, uids = _level_spans(series)
    chosen, missing = [], []
    for level in levels:
        if level not in spans:
            missing.append(level)
            continue
        first, last, mid = spans[level]
        indices = range(max(first, mid - around), min(last, mid + around) + 1)
        chosen.append({"level": level, "sop_instance_uids": [uids[i] for i in indices]})
    if missing:
        available = sorted(spans)
        raise ApplicationError(
            f"Level(s) {', '.join(missing)} not found in this series ({source} levels).",
            extra={"missing": missing, "available": available, "level_source": source},
        )
    result: dict[str, Any] = {
        "levels": chosen,
        "method": method,
        "slices_around": around,
        "level_source": source,
    }
    if parameters.get("model_version"):
        result["model_version"] = str(parameters["model_version"])
    patient = _patient(series)
    if patient:
        result["patient"] = patient
    return result


def _validate(parameters: dict[str, Any]) -> tuple[list[str], str, int]:
    levels = parameters.get("levels")
    if (
        not isinstance(levels, list)
        or not levels
        or len(levels) > MAX_LEVELS
        or not all(isinstance(lv, str) and lv for lv in levels)
    ):
        raise ApplicationError(
            f'parameters.levels must list 1 to {MAX_LEVELS} level names, e.g. ["L3"].',
            extra={"levels": "invalid"},
        )
    method = parameters.get("method", "threshold")
    if method not in METHODS:
        raise ApplicationError(
            f"parameters.method must be one of {', '.join(METHODS)}.", extra={"method": method}
        )
    around = parameters.get("slices_around", 0)
    if isinstance(around, bool) or not isinstance(around, int) or not 0 <= around <= MAX_AROUND:
        raise ApplicationError(
            f"parameters.slices_around must be an integer from 0 to {MAX_AROUND}.",
            extra={"slices_around": around},
        )
    return list(dict.fromkeys(levels)), method, around


Span = tuple[int, int, int]  # first, last, mid slice index (inclusive)


def _level_spans(series: Series) -> tuple[str, dict[str, Span], list[str]]:
    """(source, each level's span, the slices' SOP Instance UIDs in result order)."""
    latest = (
        SeriesLevels.objects.filter(series=series, job__state=JobState.SUCCEEDED)
        .defer("cams", "slice_probabilities")
        .order_by("-created_at", "-id")
        .first()
    )
    review = (
        SeriesReview.objects.filter(series=series, status=ReviewStatus.VERIFIED)
        .select_related("track__source_levels")
        .first()
    )
    if review is not None and review.track is not None:
        base = review.track.source_levels or latest
        uids = list(base.slice_sop_instance_uids or []) if base is not None else []
        if uids and len(uids) == len(review.track.labels):
            return "verified", _label_spans(review.track.labels), uids
    if latest is None:
        raise ApplicationError(
            "The series has no spine levels yet: classify it (job classify_levels) first.",
            extra={"series": series.pk},
        )
    uids = list(latest.slice_sop_instance_uids or [])
    if not uids:
        raise ApplicationError(
            "The series' classification result lists no slice UIDs; classify it again.",
            extra={"series_levels": latest.pk},
        )
    spans: dict[str, Span] = {}
    for r in latest.ranges:
        first, last = int(r["first"]), min(int(r["last"]), len(uids) - 1)
        mid = int(r.get("mid", (first + last) // 2))
        if r["level"] not in spans and 0 <= first <= mid <= last:
            spans[r["level"]] = (first, last, mid)
    return "model", spans, uids


def _label_spans(labels: list[str | None]) -> dict[str, Span]:
    """Each label's longest run of consecutive slices and its middle slice
    (neighbours stay inside the run: they belong to the same vertebra)."""
    runs: dict[str, tuple[int, int]] = {}
    start = 0
    for i in range(1, len(labels) + 1):
        if i < len(labels) and labels[i] == labels[start]:
            continue
        label = labels[start]
        best = runs.get(label) if label else None
        if label and (best is None or best[1] - best[0] < i - 1 - start):
            runs[label] = (start, i - 1)
        start = i
    return {lv: (a, b, (a + b) // 2) for lv, (a, b) in runs.items()}


def _patient(series: Series) -> dict[str, Any]:
    study = series.study
    patient: dict[str, Any] = {}
    if study.patient_height_m:
        patient["height_m"] = study.patient_height_m
    if study.patient_weight_kg:
        patient["weight_kg"] = study.patient_weight_kg
    if study.patient_sex in ("F", "M"):
        patient["sex"] = study.patient_sex
    return patient

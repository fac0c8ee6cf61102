"""Re-measure one level from corrected masks: the platform sends the label maps
a labeler painted (the `codec` encoding, in each slice's stored pixel grid);
the worker fetches the slices' HU over DICOMweb and measures them with the
same `measure` code as the segmentation job, so a corrected row reads exactly
like a segmented one (statuses such as empty_mask included).

Task arguments (`ml_worker.remeasure_body_composition`, `gpu` queue):

    target = {"study_instance_uid": str, "series_instance_uid": str}
    parameters = {
        "measurement": int, "revision": int,      # echoed back: the platform
                                                  # ignores stale revisions
        "level": "L3",
        "sop_instance_uids": [uid, ...],          # every slice of the level
        "masks": [{"sop_instance_uid", "shape", "data"}, ...],  # codec encoding
        "patient": {"height_m", "weight_kg", "sex"},
        "model": {"method", "name", "version"},   # of the masks' first segmentation
    }

Result schema "body-composition-remeasure/1":

    {"schema", "measurement", "revision", "level": <measure_level row>,
     "seg": {"sop_instance_uid", "series_instance_uid"} | null, "sr": ... | null,
     "timings": {"total": seconds}}

With `remeasure_level` the caller also gets the DICOM SEG (segment algorithm
type SEMIAUTOMATIC) and TID 1500 SR of the corrected masks to store; their
UIDs derive from the model version plus "+r<revision>", so each revision has
its own objects and a redelivered job stores the same ones again.

A slice without a mask is measured as an empty one (status empty_mask or
outside_body), never skipped silently."""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ml_worker.bodycomp.codec import decode_masks
from ml_worker.bodycomp.measure import Patient, SliceMeasurement, measure_level, measure_slice
from ml_worker.bodycomp.pipeline import Algorithm, dicom_outputs, uids_of
from ml_worker.bodycomp.slices import prepare_slice
from ml_worker.bodycomp.tissues import TissueMasks
from ml_worker.preprocess import dataset_to_hu

SCHEMA = "body-composition-remeasure/1"


class RemeasureError(ValueError):
    """The parameters cannot be measured; the message is for the user."""


def remeasure_level(
    datasets: Sequence[Dataset], parameters: dict[str, Any]
) -> tuple[dict[str, Any], Dataset | None, Dataset | None]:
    """The result (schema above), the SEG and the SR (None when nothing was measured)."""
    started = perf_counter()
    uids = [str(u) for u in parameters.get("sop_instance_uids") or []]
    if not uids:
        raise RemeasureError("parameters.sop_instance_uids must list the level's slices")
    by_uid = {str(ds.SOPInstanceUID): ds for ds in datasets}
    encoded = {str(m["sop_instance_uid"]): m for m in parameters.get("masks") or []}
    missing = [uid for uid in uids if uid not in by_uid]
    if missing:
        raise RemeasureError(f"slices not in the series: {', '.join(missing[:3])}")
    measured = [_measure(by_uid[uid], encoded.get(uid)) for uid in uids]
    rows = [row for row, _ in measured]
    patient = Patient.from_values(
        *((parameters.get("patient") or {}).get(k) for k in ("height_m", "weight_kg", "sex"))
    )
    level = measure_level(str(parameters.get("level", "")), rows, patient)
    model = parameters.get("model") or {}
    algorithm = Algorithm(
        str(model.get("method") or "threshold"),
        str(model.get("name") or "bodycomp"),
        f"{model.get('version') or '?'}+r{parameters.get('revision')}",
    )
    masks = {row.sop_instance_uid: m for row, m in measured if m is not None}
    seg, sr = dicom_outputs(datasets, uids, masks, [level], algorithm, corrected=True)
    result = {
        "schema": SCHEMA,
        "measurement": parameters.get("measurement"),
        "revision": parameters.get("revision"),
        "level": level,
        "seg": uids_of(seg),
        "sr": uids_of(sr),
        "timings": {"total": round(perf_counter() - started, 4)},
    }
    return result, seg, sr


def _measure(
    ds: Dataset, encoded: dict[str, Any] | None
) -> tuple[SliceMeasurement, TissueMasks | None]:
    """Measure in the stored pixel grid, where the masks are: areas and mean HU
    do not depend on the orientation, so no resampling is needed."""
    item = prepare_slice(ds)  # the same geometry checks as the segmentation job
    if item.issue is not None or item.spacing_mm is None:
        row = measure_slice(item.sop_instance_uid, item.hu, None, None)
        if item.issue and item.issue != row.status:
            row.status, row.issues = item.issue, [item.issue]
        return row, None
    hu = dataset_to_hu(ds)
    if encoded is None:
        masks = TissueMasks.from_label_map(np.zeros(hu.shape, dtype=np.uint8))
    else:
        masks = decode_masks(encoded)
        if masks.muscle.shape != hu.shape:
            raise RemeasureError(f"the mask of slice {item.sop_instance_uid} has the wrong shape")
    row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
    return measure_slice(item.sop_instance_uid, hu, masks, (row_mm, col_mm)), masks

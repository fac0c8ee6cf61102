"""Verified masks as training data for the segmentation network: each
verified measurement's label maps with their CT slices, in the manifest format
ml_worker/bodycomp/data.py reads (`python -m ml_worker.bodycomp.train --data
<out>/manifest.csv`):

    manifest.csv  image,mask,case,centre,level
    cases/<pseudonym>/<SOP UID>.dcm   the de-identified slice (WADO-RS)
    cases/<pseudonym>/<SOP UID>.npz   "labels": uint8 [Rows, Columns], 0-4

`case` is the per-project patient pseudonym (a split never divides a
patient), `centre` the institution code. Every export is audited."""

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from analysis.masks.codec import decode_labels
from analysis.models import BodyCompositionMeasurement
from audit.models import AuditAction
from audit.services import audit_record
from imaging.dicomweb import ImageStoreError, image_store
from projects.models import ResearchProject

MANIFEST_FIELDS = ("image", "mask", "case", "centre", "level")


@dataclass(frozen=True)
class TrainingExport:
    manifest: Path
    slices: int
    measurements: int


def verified_masks(project: ResearchProject) -> Any:
    return (
        BodyCompositionMeasurement.objects.filter(
            series__study__project=project, mask_review_status="verified"
        )
        .select_related("series__study__institution")
        .order_by("id")
    )


def export_training_masks(*, project: ResearchProject, out: Path, actor: Any) -> TrainingExport:
    out.mkdir(parents=True, exist_ok=True)
    client = image_store().client
    rows: list[dict[str, str]] = []
    measurements = verified_masks(project)
    for measurement in measurements:
        study, series = measurement.series.study, measurement.series
        case = study.patient_pseudonym or f"study-{study.pk}"
        folder = out / "cases" / case
        folder.mkdir(parents=True, exist_ok=True)
        for item in measurement.masks:
            uid = item["sop_instance_uid"]
            try:
                ds = client.retrieve_instance(
                    study.study_instance_uid, series.series_instance_uid, uid
                )
            except Exception as exc:  # requests or DICOMweb errors: name the slice
                raise ImageStoreError(f"slice {uid} could not be read: {exc}") from exc
            labels = decode_labels(item, (int(ds.Rows), int(ds.Columns)))
            image, mask = folder / f"{uid}.dcm", folder / f"{uid}.npz"
            pydicom.dcmwrite(image, ds, enforce_file_format=True)
            buffer = io.BytesIO()
            np.savez_compressed(buffer, labels=labels)
            mask.write_bytes(buffer.getvalue())
            rows.append(
                {
                    "image": str(image.relative_to(out)),
                    "mask": str(mask.relative_to(out)),
                    "case": case,
                    "centre": study.institution.code,
                    "level": measurement.level,
                }
            )
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    count = len({r["case"] for r in rows})
    audit_record(
        action=AuditAction.DATA_DOWNLOADED,
        actor=actor,
        project_id=project.pk,
        detail={
            "resource": "training_masks",
            "slices": len(rows),
            "cases": count,
            "measurements": measurements.count(),
            "out": str(out),
        },
    )
    return TrainingExport(manifest, len(rows), measurements.count())

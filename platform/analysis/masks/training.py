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


def case_of(study: Any) -> str:
    """The manifest's `case`: the patient pseudonym, so a split never divides a patient."""
    return study.patient_pseudonym or f"study-{study.pk}"


def write_training_slice(
    client: Any, out: Path, *, case: str, study_uid: str, series_uid: str, item: dict[str, Any]
) -> dict[str, str]:
    """Fetch one slice, write it and its decoded label map under
    out/cases/<case>/; the manifest's image and mask paths, relative to `out`."""
    folder = out / "cases" / case
    folder.mkdir(parents=True, exist_ok=True)
    uid = item["sop_instance_uid"]
    try:
        ds = client.retrieve_instance(study_uid, series_uid, uid)
    except Exception as exc:  # requests or DICOMweb errors: name the slice
        raise ImageStoreError(f"slice {uid} could not be read: {exc}") from exc
    labels = decode_labels(item, (int(ds.Rows), int(ds.Columns)))
    image, mask = folder / f"{uid}.dcm", folder / f"{uid}.npz"
    pydicom.dcmwrite(image, ds, enforce_file_format=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, labels=labels)
    mask.write_bytes(buffer.getvalue())
    return {"image": str(image.relative_to(out)), "mask": str(mask.relative_to(out))}


def write_manifest(path: Path, rows: list[dict[str, str]], extra: tuple[str, ...] = ()) -> Path:
    """The manifest CSV; `extra` columns (e.g. split) are ignored by the loader."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS + extra)
        writer.writeheader()
        writer.writerows(rows)
    return path


def export_training_masks(*, project: ResearchProject, out: Path, actor: Any) -> TrainingExport:
    out.mkdir(parents=True, exist_ok=True)
    client = image_store().client
    rows: list[dict[str, str]] = []
    measurements = verified_masks(project)
    for measurement in measurements:
        study, series = measurement.series.study, measurement.series
        case, centre = case_of(study), study.institution.code
        for item in measurement.masks:
            paths = write_training_slice(
                client,
                out,
                case=case,
                study_uid=study.study_instance_uid,
                series_uid=series.series_instance_uid,
                item=item,
            )
            rows.append({**paths, "case": case, "centre": centre, "level": measurement.level})
    manifest = write_manifest(out / "manifest.csv", rows)
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

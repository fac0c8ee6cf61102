"""A dataset version on disk for the training CLIs: manifest.csv plus every
listed instance fetched from the image store to the path the manifest names;
with frozen tissue masks also masks_manifest.csv (train + validation) and
masks_eval_manifest.csv (test + external) in ml_worker.bodycomp.data's format,
written by analysis.masks.training's writer. The masks are split in two files
because `bodycomp.train` re-splits its --data by case: held-out test and
external patients must never reach it."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom

from analysis.masks.training import write_manifest, write_training_slice
from audit.models import AuditAction
from audit.services import audit_record
from imaging.dicomweb import ImageStoreError, image_store
from learning.datasets import dataset_manifest_export
from learning.models import DatasetMask, DatasetSeries, DatasetVersion, Split

TRAINING_SPLITS = (Split.TRAIN, Split.VALIDATION)


@dataclass(frozen=True)
class DatasetExport:
    manifest: Path
    fetched: int
    present: int
    mask_slices: int = 0


def dataset_export_files(*, dataset: DatasetVersion, out: Path, user: Any) -> DatasetExport:
    """Write the manifest (audited like a download) and fetch the instances it
    lists; files already there are kept, so an interrupted export resumes."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    manifest.write_text(dataset_manifest_export(dataset=dataset, user=user), encoding="utf-8")
    client = image_store().client
    fetched = present = 0
    for row in DatasetSeries.objects.filter(dataset=dataset).order_by("id").iterator():
        folder = out / "dicom" / row.series_instance_uid
        folder.mkdir(parents=True, exist_ok=True)
        for uid in row.sop_instance_uids:
            target = folder / f"{uid}.dcm"
            if target.is_file():
                present += 1
                continue
            try:
                ds = client.retrieve_instance(row.study_instance_uid, row.series_instance_uid, uid)
            except Exception as exc:  # requests or DICOMweb errors: name the slice
                raise ImageStoreError(f"slice {uid} could not be read: {exc}") from exc
            partial = target.with_suffix(".part")
            pydicom.dcmwrite(partial, ds, enforce_file_format=True)
            partial.replace(target)
            fetched += 1
    masks = dataset_mask_files(dataset=dataset, out=out, user=user)
    return DatasetExport(manifest=manifest, fetched=fetched, present=present, mask_slices=masks)


def dataset_mask_files(*, dataset: DatasetVersion, out: Path, user: Any) -> int:
    """The frozen masks with their slices and the two bodycomp manifests
    (audited); 0 and no files for a version without masks."""
    client = image_store().client
    rows: dict[bool, list[dict[str, str]]] = {True: [], False: []}
    for mask in DatasetMask.objects.filter(dataset=dataset).order_by("id").iterator():
        item = {"sop_instance_uid": mask.sop_instance_uid, "shape": mask.shape, "data": mask.data}
        paths = write_training_slice(
            client,
            out,
            case=mask.case,
            study_uid=mask.study_instance_uid,
            series_uid=mask.series_instance_uid,
            item=item,
        )
        rows[mask.split in TRAINING_SPLITS].append(
            {**paths, "case": mask.case, "centre": mask.institution_code, "level": mask.level,
             "split": mask.split}
        )  # fmt: skip
    count = len(rows[True]) + len(rows[False])
    if not count:
        return 0
    write_manifest(out / "masks_manifest.csv", rows[True], extra=("split",))
    write_manifest(out / "masks_eval_manifest.csv", rows[False], extra=("split",))
    audit_record(
        action=AuditAction.DATA_DOWNLOADED,
        actor=user,
        obj=dataset,
        project_id=dataset.project_id,
        detail={"export": "dataset_masks", "number": dataset.number, "slices": count},
    )
    return count

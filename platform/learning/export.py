"""A dataset version on disk for the training CLI: manifest.csv plus every
listed instance fetched from the image store to the path the manifest names."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom

from imaging.dicomweb import ImageStoreError, image_store
from learning.datasets import dataset_manifest_export
from learning.models import DatasetSeries, DatasetVersion


@dataclass(frozen=True)
class DatasetExport:
    manifest: Path
    fetched: int
    present: int


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
    return DatasetExport(manifest=manifest, fetched=fetched, present=present)

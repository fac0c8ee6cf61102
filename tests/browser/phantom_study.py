"""A phantom CT series in the platform for viewer tests: rendered by the
anatomical phantom, uploaded like a hospital's files (validated, de-identified,
stored in Orthanc, indexed), with a classification result written straight to
the database (the model is not under test here) and synthetic CAMs that light
up the spine."""

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.models import Job, SeriesLevels
from imaging.dicomweb import image_store
from imaging.ingest import UploadItem
from imaging.models import Series
from imaging.services import upload_ingest
from ml_worker.synthetic import make_patient, write_ct_series
from ml_worker.synthetic.phantom import PhantomCase, make_phantom

CAM_SIZE = 32


@dataclass(frozen=True)
class PhantomStudy:
    series: Series
    levels: SeriesLevels
    case: PhantomCase


def model_levels(levels: list[str | None]) -> list[str]:
    """Per-slice levels as the decoder gives them: disc slices take the level above."""
    out: list[str] = []
    for level in levels:
        out.append(level or (out[-1] if out else "Cervical"))
    return out


def level_ranges(levels: list[str], positions: list[float]) -> list[dict[str, Any]]:
    """Ranges in the decoder's shape (ml_worker.decoding.result.LevelRange)."""
    ranges: list[dict[str, Any]] = []
    start = 0
    for i in range(1, len(levels) + 1):
        if i < len(levels) and levels[i] == levels[start]:
            continue
        last = i - 1
        ranges.append(
            {
                "level": levels[start],
                "index": len(ranges),
                "first": start,
                "last": last,
                "mid": (start + last) // 2,
                "start_mm": positions[start],
                "end_mm": positions[last],
                "length_mm": abs(positions[last] - positions[start]),
                "confidence": round(0.7 + 0.29 * ((len(ranges) * 7) % 10) / 10, 3),
                "agreement": 1.0,
            }
        )
        start = i
    return ranges


def spine_cams(slices: int) -> bytes:
    """zlib uint8 [slices, 32, 32]: a blob at the image centre-back (the spine)."""
    y, x = np.mgrid[0:CAM_SIZE, 0:CAM_SIZE]
    blob = np.exp(-(((x - CAM_SIZE / 2) ** 2) + ((y - CAM_SIZE * 0.62) ** 2)) / 18.0)
    cams = np.repeat((blob * 255).astype(np.uint8)[None], slices, axis=0)
    return zlib.compress(cams.tobytes())


def stored_slice_uids(series: Series) -> list[str]:
    """The stored (de-identified) SOP instance UIDs, superior first, as a
    classification result lists them."""
    response = image_store().get(
        f"studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}/metadata",
        headers={"Accept": "application/dicom+json"},
    )
    response.raise_for_status()
    items = response.json()
    items.sort(key=lambda item: -float(item["00200032"]["Value"][2]))
    return [item["00080018"]["Value"][0] for item in items]


def ingest_phantom(
    *, project: Any, user: Any, tmp: Path, seed: int = 5, fov: str = "trunk",
    size: int = 128, slice_mm: float = 5.0,
) -> PhantomStudy:  # fmt: skip
    case = make_phantom(seed, fov=fov, rows=size, cols=size, slice_thickness_mm=slice_mm)
    paths = write_ct_series(case.volume, tmp / f"phantom-{seed}", patient=make_patient(seed))
    items = [UploadItem(p.name, p.read_bytes()) for p in paths]
    report = upload_ingest(project=project, user=user, items=items)
    assert report.as_dict()["counts"]["accepted"] == len(paths), report.as_dict()
    series = Series.objects.get(study__project=project, study__uploaded_by=user)
    levels = model_levels(case.levels)
    job = Job.objects.create(
        project=project,
        institution=series.study.institution,
        series=series,
        job_type="classify_levels",
        state="succeeded",
        progress=1.0,
    )
    positions = [float(z) for z in case.volume.slice_positions_mm]
    result = SeriesLevels.objects.create(
        job=job,
        series=series,
        model_name="phantom-truth",
        model_version="1",
        slice_sop_instance_uids=stored_slice_uids(series),
        slice_positions_mm=positions,
        slice_levels=levels,
        slice_confidence=[0.95] * len(levels),
        ranges=level_ranges(levels, positions),
        cams=spine_cams(len(levels)),
        cam_shape=[len(levels), CAM_SIZE, CAM_SIZE],
    )
    return PhantomStudy(series, result, case)

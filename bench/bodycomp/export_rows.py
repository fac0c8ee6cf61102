"""Flat measurement rows from "body-composition/1" job results, and writers
for CSV, XLSX and Parquet. ml_worker-free on purpose: the platform's analyst
export will do this from stored results; this is the bench's stand-in.

One row per (job, level): the level's measurements, status and issues, the
flags as "<cutoff>=low|not low|unknown", and the provenance (method, model,
version, SEG/SR UIDs)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

COLUMNS = (
    "job_id", "study_instance_uid", "series_instance_uid", "level", "status", "issues",
    "n_slices", "n_slices_used", "muscle_area_cm2", "imat_area_cm2", "sat_area_cm2",
    "vat_area_cm2", "muscle_density_hu", "smi_cm2_m2", "vat_sat_ratio", "bmi_kg_m2",
    "height_m", "sex", "flags", "method", "model_name", "model_version", "model_sha256",
    "seg_sop_instance_uid", "sr_sop_instance_uid",
)  # fmt: skip
_VERDICT = {True: "low", False: "not low", None: "unknown"}


def flatten(job_id: int, result: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for level in result["levels"]:
        yield {
            "job_id": job_id,
            "study_instance_uid": result["study_instance_uid"],
            "series_instance_uid": result["series_instance_uid"],
            **{key: level[key] for key in COLUMNS[3:16] if key in level},
            "issues": ";".join(level["issues"]),
            "height_m": result["patient"]["height_m"],
            "sex": result["patient"]["sex"],
            "flags": ";".join(f"{f['cutoff']}={_VERDICT[f['low']]}" for f in level["flags"]),
            "method": result["method"],
            "model_name": result["model"]["name"],
            "model_version": result["model"]["version"],
            "model_sha256": result["model"]["sha256"],
            "seg_sop_instance_uid": (result["seg"] or {}).get("sop_instance_uid"),
            "sr_sop_instance_uid": (result["sr"] or {}).get("sop_instance_uid"),
        }


def write_csv(rows: Iterable[dict[str, Any]], path: Path) -> Path:
    with Path(path).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def write_xlsx(rows: Iterable[dict[str, Any]], path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("measurements")
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([row.get(key) for key in COLUMNS])
    book.save(path)
    return Path(path)


def write_parquet(rows: Iterable[dict[str, Any]], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(list(rows))
    pq.write_table(table, path)
    return Path(path)

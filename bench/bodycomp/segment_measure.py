"""Segmentation plus measurement per slice on CPU against the bare HU-threshold
pass on the same slices, accuracy against the phantom's exact masks, and the
time to write 10,000 result rows as CSV, XLSX and Parquet.

Run: .venv/bin/python bench/bodycomp/segment_measure.py [--slices 24] [--size 512]
     [--registry var/models] [--rows 10000]

Baseline: the three HU windows (muscle, fat, visceral fat) counted over the
slice, which is what any body-composition method costs at least. The
threshold method adds the morphology (body, fascia, muscle compartment) and
the measurement rows; the network, when a model is registered, its forward
pass. Ratio = method time / baseline time per slice (lower is better).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from export_rows import flatten, write_csv, write_parquet, write_xlsx  # noqa: E402

from ml_worker.bodycomp.measure import measure_slice  # noqa: E402
from ml_worker.bodycomp.segmenter import Segmenter  # noqa: E402
from ml_worker.bodycomp.threshold import ThresholdSegmenter  # noqa: E402
from ml_worker.bodycomp.tissues import FAT_HU, MUSCLE_HU, TISSUES, VAT_HU, in_window  # noqa: E402
from ml_worker.synthetic import make_anatomy, render_slice  # noqa: E402

LEVELS = ("L3", "L3", "L1", "T12", "L4", "L2")


def phantom_slices(count: int, size: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    out = []
    for index in range(count):
        anatomy = make_anatomy(1000 + index)
        rng = np.random.default_rng(index)
        level = LEVELS[index % len(LEVELS)]
        z = float(rng.uniform(*reversed(anatomy.body_range(level))))
        spacing = float(rng.uniform(380.0, 480.0)) / size
        hu, tissues = render_slice(
            anatomy, z, rows=size, cols=size, pixel_spacing_mm=spacing, rng=rng
        )
        out.append((hu.astype(np.float32), tissues, spacing))
    return out


def bare_threshold(hu: np.ndarray, spacing: float) -> dict[str, float]:
    cm2 = spacing * spacing / 100.0
    return {
        "muscle": float(in_window(hu, MUSCLE_HU).sum() * cm2),
        "fat": float(in_window(hu, FAT_HU).sum() * cm2),
        "vat": float(in_window(hu, VAT_HU).sum() * cm2),
    }


def time_per_slice(fn, slices, repeats: int = 1) -> float:  # type: ignore[no-untyped-def]
    fn(*slices[0])  # warm-up (caches, lazy imports)
    started = time.perf_counter()
    for _ in range(repeats):
        for item in slices:
            fn(*item)
    return (time.perf_counter() - started) / (repeats * len(slices))


def accuracy(segmenter: Segmenter, slices) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    errors: dict[str, list[float]] = {t.key: [] for t in TISSUES}
    dices: dict[str, list[float]] = {t.key: [] for t in TISSUES}
    for hu, tissues, spacing in slices:
        masks = segmenter.segment(hu, (spacing, spacing))
        for tissue in TISSUES:  # phantom codes 1-4 are the same tissues
            truth, pred = tissues == int(tissue), masks.get(tissue)
            if truth.sum():
                errors[tissue.key].append(100 * (pred.sum() - truth.sum()) / truth.sum())
                dices[tissue.key].append(2 * (pred & truth).sum() / (pred.sum() + truth.sum()))
    return {k: {"area_error_pct_median": round(float(np.median(errors[k])), 1),
                "dice_mean": round(float(np.mean(dices[k])), 3)} for k in errors}  # fmt: skip


def segment_and_measure(segmenter: Segmenter):  # type: ignore[no-untyped-def]
    def run(hu: np.ndarray, _tissues: np.ndarray, spacing: float) -> None:
        masks = segmenter.segment(hu, (spacing, spacing))
        measure_slice("1.2.3", hu, masks, (spacing, spacing))

    return run


def export_times(rows: int, tmp: Path) -> dict[str, float]:
    template = json.loads((Path(__file__).parent / "result_example.json").read_text())
    per_job = len(template["levels"])
    data = [row for job in range(rows // per_job) for row in flatten(job, template)]
    times = {}
    for name, writer in (("csv", write_csv), ("xlsx", write_xlsx), ("parquet", write_parquet)):
        started = time.perf_counter()
        path = writer(data, tmp / f"rows.{name}")
        times[name] = round(time.perf_counter() - started, 3)
        times[f"{name}_mib"] = round(path.stat().st_size / 2**20, 2)
    times["rows"] = len(data)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=24)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--registry", type=Path, help="also time the registered network")
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, CUDA {torch.cuda.is_available()}")  # fmt: skip
    slices = phantom_slices(args.slices, args.size)
    print(f"{len(slices)} phantom slices {args.size}x{args.size} (levels {', '.join(LEVELS)})")
    bare = time_per_slice(lambda hu, _t, spacing: bare_threshold(hu, spacing), slices, repeats=5)
    print(f"baseline  bare HU thresholds          {1000 * bare:8.2f} ms/slice")
    methods: list[tuple[str, Segmenter]] = [("threshold", ThresholdSegmenter())]
    if args.registry is not None:
        from ml_worker.bodycomp.factory import segmenter_from_registry

        methods.append(("network", segmenter_from_registry(args.registry)))
    for name, segmenter in methods:
        seconds = time_per_slice(segment_and_measure(segmenter), slices)
        print(f"{name:9s} segment + measure             {1000 * seconds:8.2f} ms/slice  "
              f"ratio {seconds / bare:6.1f}x baseline")  # fmt: skip
        print(f"          accuracy vs phantom truth: {json.dumps(accuracy(segmenter, slices))}")
    with tempfile.TemporaryDirectory() as tmp:
        times = export_times(args.rows, Path(tmp))
    print(f"export {times['rows']} rows: CSV {times['csv']} s ({times['csv_mib']} MiB), "
          f"XLSX {times['xlsx']} s ({times['xlsx_mib']} MiB), "
          f"Parquet {times['parquet']} s ({times['parquet_mib']} MiB)")  # fmt: skip


if __name__ == "__main__":
    main()

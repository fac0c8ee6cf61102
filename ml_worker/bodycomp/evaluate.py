"""Evaluate a body-composition segmenter: Dice and relative area error per
tissue at native resolution, against phantom masks or a manifest of verified
masks (format in `bodycomp.data`).

CLI: python -m ml_worker.bodycomp.evaluate --data phantom:40|manifest.csv
     (--checkpoint model.pt | --registry var/models [--model-name bodycomp-seg]
      [--version N] | --method threshold) [--out DIR]
Prints one line per tissue and writes DIR/metrics.json.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ml_worker.bodycomp.data import SegSample, load_samples
from ml_worker.bodycomp.segmenter import Segmenter
from ml_worker.bodycomp.tissues import TISSUES


def dice(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """None when both are empty (nothing to agree on)."""
    total = int(pred.sum()) + int(truth.sum())
    return None if total == 0 else 2.0 * int((pred & truth).sum()) / total


def evaluate_segmenter(segmenter: Segmenter, samples: Sequence[SegSample]) -> dict[str, Any]:
    """{"tissues": {key: {"dice", "area_error_pct", "slices"}}, "mean_dice", "slices"}:
    Dice averaged over slices where the tissue is present in truth or
    prediction; area error = mean |predicted - true| / true over slices with
    the tissue present in truth."""
    dices: dict[str, list[float]] = {t.key: [] for t in TISSUES}
    errors: dict[str, list[float]] = {t.key: [] for t in TISSUES}
    for sample in samples:
        masks = segmenter.segment(sample.hu, sample.spacing_mm)
        for tissue in TISSUES:
            pred, truth = masks.get(tissue), sample.labels == tissue
            score = dice(pred, truth)
            if score is not None:
                dices[tissue.key].append(score)
            if truth.any():
                errors[tissue.key].append(abs(int(pred.sum()) - int(truth.sum())) / truth.sum())
    tissues = {
        key: {
            "dice": _mean(dices[key]),
            "area_error_pct": None
            if not errors[key]
            else round(100 * float(np.mean(errors[key])), 2),
            "slices": len(dices[key]),
        }
        for key in dices
    }
    scores = [v["dice"] for v in tissues.values() if v["dice"] is not None]
    return {"tissues": tissues, "mean_dice": _mean(scores), "slices": len(samples)}


def _mean(values: Sequence[float]) -> float | None:
    return None if not values else round(float(np.mean(values)), 4)


def format_metrics(metrics: dict[str, Any], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"{'tissue':8s} {'dice':>7s} {'area err %':>10s} {'slices':>6s}")
    for key, row in metrics["tissues"].items():
        score = "-" if row["dice"] is None else f"{row['dice']:.4f}"
        error = "-" if row["area_error_pct"] is None else f"{row['area_error_pct']:.2f}"
        lines.append(f"{key:8s} {score:>7s} {error:>10s} {row['slices']:>6d}")
    lines.append(f"mean dice {metrics['mean_dice']} over {metrics['slices']} slices")
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Evaluate a body-composition segmenter")
    parser.add_argument("--data", required=True, help="phantom:N or a manifest CSV")
    parser.add_argument(
        "--seed", type=int, default=1, help="phantom seed (1: not the training set)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path)
    source.add_argument("--registry", type=Path)
    source.add_argument("--method", choices=["threshold"])
    parser.add_argument("--model-name", default="bodycomp-seg")
    parser.add_argument("--version")
    parser.add_argument("--out", type=Path)
    return parser


def load_segmenter(args: argparse.Namespace) -> Segmenter:
    from ml_worker.bodycomp.factory import segmenter_from_checkpoint, segmenter_from_registry
    from ml_worker.bodycomp.threshold import ThresholdSegmenter

    if args.method == "threshold":
        return ThresholdSegmenter()
    if args.checkpoint is not None:
        return segmenter_from_checkpoint(args.checkpoint)
    return segmenter_from_registry(args.registry, args.model_name, args.version)


def main(args: argparse.Namespace) -> dict[str, Any]:
    samples = load_samples(args.data, seed=args.seed)
    segmenter = load_segmenter(args)
    metrics = evaluate_segmenter(segmenter, samples)
    metrics["segmenter"] = {"name": segmenter.name, "version": segmenter.version}
    print(format_metrics(metrics, f"{segmenter.name} {segmenter.version} on {args.data}"))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main(get_args_parser().parse_args())

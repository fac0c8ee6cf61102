"""Evaluate a level classifier: per-class table in the reference study's form
(per class: slices, correct (wrong), accuracy), confusion matrix, training
curves, and the same metrics for each centre (external validation).

CLI: python -m ml_worker.training.evaluate --checkpoint run/best.pt
     --data manifest.csv|phantom:N --out eval_dir [--history run/history.json]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ml_worker.levels import FINE_LEVELS, INDEX, NUM_CLASSES
from ml_worker.model import LevelClassifier, inference_context, load_checkpoint
from ml_worker.runtime import select_device
from ml_worker.training.data import SliceDataset, SliceRecord, load_source, table_row_order

# Phantom cases for evaluation start far from the training seeds (0, 1, ...),
# so a phantom test set never repeats a training patient.
EVAL_PHANTOM_SEED = 1_000_000


# --- Scoring ------------------------------------------------------------------------------


def set_valued_nll(logits: Tensor, mask: Tensor, class_weight: Tensor | None = None) -> Tensor:
    """Mean of −log Σ_{c ∈ allowed} p_c over the batch.

    With one allowed class this is cross-entropy; a coarse label ("Lumbar")
    rewards probability on any of its members without choosing among them.
    `class_weight` [K] weighs each slice by the mean weight of its allowed set.
    """
    log_p = logits.float().log_softmax(dim=1)
    nll = -log_p.masked_fill(~mask, float("-inf")).logsumexp(dim=1)
    if class_weight is None:
        return nll.mean()
    m = mask.float()
    weight = (m @ class_weight.to(m)) / m.sum(dim=1)
    return (weight * nll).sum() / weight.sum()


def correct(logits: Tensor, mask: Tensor) -> Tensor:
    """[B] bool: the top class is one the label allows."""
    return mask.gather(1, logits.argmax(dim=1, keepdim=True)).squeeze(1)


# --- Prediction ---------------------------------------------------------------------------


def predict(
    model: LevelClassifier,
    dataset: SliceDataset,
    *,
    batch_size: int = 64,
    device: torch.device | None = None,
    num_workers: int = 0,
) -> tuple[Tensor, Tensor]:
    """(logits [N, 19] float32, masks [N, 19] bool) in dataset order."""
    device = device or next(model.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    was_training = model.training
    model.eval()
    outputs, masks = [], []
    with inference_context(device):
        for x, mask in loader:
            x = x.to(device, memory_format=torch.channels_last, non_blocking=True)
            # Level logits only: a disc output, if any, is not a level a label can name.
            outputs.append(model(x).float().cpu()[:, :NUM_CLASSES])
            masks.append(mask)
    model.train(was_training)
    if not outputs:
        return torch.zeros(0, NUM_CLASSES), torch.zeros(0, NUM_CLASSES, dtype=torch.bool)
    return torch.cat(outputs), torch.cat(masks)


def evaluate_model(
    model: LevelClassifier,
    dataset: SliceDataset,
    *,
    batch_size: int = 64,
    device: torch.device | None = None,
    num_workers: int = 0,
) -> dict[str, Any]:
    """Per-slice metrics (before sequence decoding) over a labelled dataset.

    Returns accuracy, mean set-valued loss, per-class rows, the fine-label
    confusion matrix and the same summary per centre; plain values only.
    """
    logits, masks = predict(
        model, dataset, batch_size=batch_size, device=device, num_workers=num_workers
    )
    metrics = summarise_predictions(logits, masks, dataset.records)
    by_centre: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(dataset.records):
        by_centre[record.centre].append(index)
    metrics["per_centre"] = {
        centre: summarise_predictions(
            logits[rows], masks[rows], [dataset.records[i] for i in rows], confusion=False
        )
        for centre, rows in sorted(by_centre.items())
    }
    return metrics


def summarise_predictions(
    logits: Tensor, masks: Tensor, records: Sequence[SliceRecord], *, confusion: bool = True
) -> dict[str, Any]:
    hits = correct(logits, masks) if len(records) else torch.zeros(0, dtype=torch.bool)
    n, n_correct = len(records), int(hits.sum())
    metrics: dict[str, Any] = {
        "slices": n,
        "correct": n_correct,
        "accuracy": n_correct / n if n else float("nan"),
        "loss": float(set_valued_nll(logits, masks)) if n else float("nan"),
        "per_class": per_class_rows(hits, records),
    }
    if confusion:
        metrics["confusion"] = {
            "labels": list(FINE_LEVELS),
            "matrix": confusion_matrix(logits.argmax(dim=1), records).tolist(),
        }
    return metrics


def per_class_rows(hits: Tensor, records: Sequence[SliceRecord]) -> list[dict[str, Any]]:
    """One row per fine class (then per set-valued label) present, like the
    reference study's internal validation table."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for hit, record in zip(hits.tolist(), records, strict=True):
        tally[record.row_key()][0] += 1
        tally[record.row_key()][1] += int(hit)
    rows = []
    for key in table_row_order(tally):
        slices, right = tally[key]
        rows.append(
            {
                "class": key,
                "slices": slices,
                "correct": right,
                "wrong": slices - right,
                "accuracy": right / slices,
            }
        )
    return rows


def confusion_matrix(predicted: Tensor, records: Sequence[SliceRecord]) -> np.ndarray:
    """[19, 19] counts, rows = true class, of slices with a fine (single-class) label."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for pred, record in zip(predicted.tolist(), records, strict=True):
        key = record.row_key()
        if key in INDEX:
            matrix[INDEX[key], pred] += 1
    return matrix


# --- Reports ------------------------------------------------------------------------------


def format_table(metrics: dict[str, Any], title: str = "") -> str:
    """Markdown table: Class | Slices | Correct (wrong) | Accuracy, with a total row."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| Class | Slices | Correct (wrong) | Accuracy |", "|---|---:|---:|---:|"]
    rows = [*metrics["per_class"], _total_row(metrics)]
    for row in rows:
        name = f"**{row['class']}**" if row["class"] == "All" else row["class"]
        lines.append(
            f"| {name} | {row['slices']} | {row['correct']} ({row['wrong']}) "
            f"| {100 * row['accuracy']:.2f} % |"
        )
    return "\n".join(lines) + "\n"


def _total_row(metrics: dict[str, Any]) -> dict[str, Any]:
    n, right = metrics["slices"], metrics["correct"]
    return {"class": "All", "slices": n, "correct": right, "wrong": n - right,
            "accuracy": metrics["accuracy"]}  # fmt: skip


def write_table_csv(metrics: dict[str, Any], path: Path) -> Path:
    with Path(path).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["class", "slices", "correct", "wrong", "accuracy"])
        writer.writeheader()
        for row in [*metrics["per_class"], _total_row(metrics)]:
            writer.writerow({**row, "accuracy": f"{row['accuracy']:.4f}"})
    return Path(path)


def write_report(metrics: dict[str, Any], out_dir: Path, name: str, title: str = "") -> list[Path]:
    """<name>_per_class.csv/.md and <name>_confusion.png under `out_dir`, plus one
    table per centre when the set spans several."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = title or name
    markdown = format_table(metrics, title)
    for centre, sub in metrics.get("per_centre", {}).items():
        if len(metrics["per_centre"]) > 1:
            markdown += "\n" + format_table(sub, f"{title}, centre {centre}")
    paths = [write_table_csv(metrics, out_dir / f"{name}_per_class.csv")]
    (out_dir / f"{name}_per_class.md").write_text(markdown)
    paths.append(out_dir / f"{name}_per_class.md")
    if "confusion" in metrics:
        matrix = np.asarray(metrics["confusion"]["matrix"])
        paths.append(plot_confusion(matrix, out_dir / f"{name}_confusion.png", title))
    return paths


def _pyplot() -> Any:
    import matplotlib  # imported late: only report writing needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: np.ndarray, path: Path, title: str = "") -> Path:
    """Row-normalised colours with counts in the cells; empty rows stay blank."""
    plt = _pyplot()
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    fig, ax = plt.subplots(figsize=(10, 9), dpi=110)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if share[row, col] > 0.5 else "black"
            ax.text(col, row, str(count), ha="center", va="center", fontsize=6, color=colour)
    ticks = range(len(FINE_LEVELS))
    ax.set_xticks(ticks, FINE_LEVELS, rotation=90)
    ax.set_yticks(ticks, FINE_LEVELS)
    ax.set_xlabel("Predicted level")
    ax.set_ylabel("True level")
    ax.set_title(f"Confusion matrix {title}".strip())
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.subplots_adjust(left=0.1, right=0.9, bottom=0.1, top=0.95)  # tight_layout costs a draw
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_history(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Loss and accuracy per epoch (train and validation), best epoch marked."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for key, style in (("train", "-o"), ("val", "-s")):
        loss_ax.plot(epochs, [h[f"{key}_loss"] for h in history], style, ms=3, label=key)
        acc_ax.plot(epochs, [100 * h[f"{key}_accuracy"] for h in history], style, ms=3, label=key)
    best = max(history, key=lambda h: h["val_accuracy"]) if history else None
    for ax, ylabel in ((loss_ax, "loss (set-valued NLL)"), (acc_ax, "accuracy (%)")):
        if best is not None:
            ax.axvline(best["epoch"], color="grey", ls="--", lw=1, label=f"best {best['epoch']}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    loss_ax.set_title("Loss per epoch")
    acc_ax.set_title("Per-slice accuracy per epoch")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.92, wspace=0.22)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def accuracy_by_class(metrics: dict[str, Any]) -> dict[str, float]:
    return {row["class"]: round(row["accuracy"], 4) for row in metrics["per_class"]}


# --- CLI ----------------------------------------------------------------------------------


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Evaluate a spine-level checkpoint.")
    parser.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint .pt")
    parser.add_argument("--data", required=True, help="manifest CSV, or phantom:N")
    parser.add_argument("--out", type=Path, required=True, help="folder for tables and PNGs")
    parser.add_argument("--name", default="test", help="file prefix of the tables")
    parser.add_argument("--centre", action="append", default=[], help="only these centres")
    parser.add_argument("--history", type=Path, default=None, help="history.json of a run, to plot")
    parser.add_argument("--phantom-seed", type=int, default=EVAL_PHANTOM_SEED)
    parser.add_argument("--slice-thickness", type=float, default=5.0, help="phantom mm")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: best available)")
    return parser


def main(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device) if args.device else select_device()
    checkpoint = load_checkpoint(args.checkpoint, map_location=device)
    size = checkpoint.config.input_size
    records, read_hu = load_source(
        args.data, size=size, phantom_seed=args.phantom_seed,
        slice_thickness_mm=args.slice_thickness,
    )  # fmt: skip
    if args.centre:
        records = [r for r in records if r.centre in set(args.centre)]
    dataset = SliceDataset(records, read_hu, size)
    metrics = evaluate_model(
        checkpoint.model, dataset, batch_size=args.batch_size, device=device,
        num_workers=args.num_workers,
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(metrics, args.out, args.name, f"{args.name} ({args.data})")
    (args.out / f"{args.name}_metrics.json").write_text(json.dumps(metrics, indent=2))
    if args.history is not None:
        plot_history(json.loads(args.history.read_text()), args.out / "history.png")
    print(format_table(metrics, f"{args.name}: {args.checkpoint}"))
    for centre, sub in metrics["per_centre"].items():
        print(f"centre {centre}: {sub['correct']}/{sub['slices']} = {100 * sub['accuracy']:.2f} %")
    return metrics


if __name__ == "__main__":
    main(get_args_parser().parse_args())

"""Train the body-composition U-Net on phantom slices or verified masks.

CLI: python -m ml_worker.bodycomp.train --data phantom:240|manifest.csv
     --preset small --epochs 8 --batch-size 8 --lr 1e-3 --out run_dir
     [--val-fraction 0.2] [--max-steps N] [--register-to var/models
     --model-name bodycomp-seg]

Loss: Dice + cross-entropy (MONAI DiceCELoss) over background and the four
tissues; Adam; the best epoch by mean validation Dice (on the input grid) is
kept. The run folder gets model.pt (best weights: what is registered),
history.json and metrics.json (Dice and area error per tissue at native
resolution on the validation slices, from `evaluate`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from monai.losses import DiceCELoss
from torch import nn
from torch.utils.data import DataLoader

from ml_worker.bodycomp.data import SegDataset, data_summary, load_samples, split_by_case
from ml_worker.bodycomp.evaluate import evaluate_segmenter, format_metrics
from ml_worker.bodycomp.model_store import DEFAULT_NAME, register_seg_model
from ml_worker.bodycomp.network import (
    NUM_CLASSES,
    PRESETS,
    NetworkSegmenter,
    build_unet,
    save_seg_checkpoint,
)
from ml_worker.runtime import select_device
from ml_worker.training.train import code_version


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train the body-composition segmenter")
    parser.add_argument("--data", default="phantom:240", help="phantom:N or a manifest CSV")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after N steps (0: no cap)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--register-to", type=Path)
    parser.add_argument("--model-name", default=DEFAULT_NAME)
    parser.add_argument("--quiet", action="store_true")
    return parser


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    budget: int | None,
) -> tuple[float, int]:
    """Mean loss and steps taken (stops early once `budget` steps are used)."""
    model.train()
    total, steps = 0.0, 0
    for x, y in loader:
        if budget is not None and steps >= budget:
            break
        logits = model(x.to(device))
        loss = loss_fn(logits, y.to(device)[:, None])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item()
        steps += 1
    return total / max(steps, 1), steps


@torch.inference_mode()
def validation_dice(
    model: nn.Module, loader: DataLoader[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> float:
    """Mean Dice over the four tissues on the input grid (fast model selection)."""
    model.eval()
    hits = torch.zeros(NUM_CLASSES)
    sizes = torch.zeros(NUM_CLASSES)
    for x, y in loader:
        pred = model(x.to(device)).argmax(1).cpu()
        for c in range(1, NUM_CLASSES):
            hits[c] += ((pred == c) & (y == c)).sum()
            sizes[c] += (pred == c).sum() + (y == c).sum()
    present = sizes[1:] > 0
    return float((2 * hits[1:][present] / sizes[1:][present]).mean()) if present.any() else 0.0


def main(args: argparse.Namespace) -> dict[str, Any]:
    log = (lambda _: None) if args.quiet else print
    torch.manual_seed(args.seed)
    device = select_device()
    config = PRESETS[args.preset]
    samples = load_samples(args.data, seed=args.seed)
    train_set, val_set = split_by_case(samples, args.val_fraction, seed=args.seed)
    log(f"data: {len(train_set)} train / {len(val_set)} val slices from {args.data}")
    train_loader = DataLoader(SegDataset(train_set, config.input_size, augment=True),
                              batch_size=args.batch_size, shuffle=True)  # fmt: skip
    val_loader = DataLoader(SegDataset(val_set, config.input_size), batch_size=args.batch_size)
    model = build_unet(config).to(device)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    args.out.mkdir(parents=True, exist_ok=True)
    best, history, used = -1.0, [], 0
    model_path = args.out / "model.pt"
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        budget = args.max_steps - used if args.max_steps else None
        loss, steps = train_one_epoch(model, train_loader, loss_fn, optimizer, device, budget)
        used += steps
        score = validation_dice(model, val_loader, device) if val_set else 0.0
        seconds = round(time.perf_counter() - started, 1)
        history.append({"epoch": epoch, "loss": round(loss, 5), "val_dice": round(score, 4),
                        "steps": steps, "seconds": seconds})  # fmt: skip
        log(f"epoch {epoch}: loss {loss:.4f} val dice {score:.4f} ({steps} steps)")
        if score > best or not model_path.exists():
            best = score
            save_seg_checkpoint(model_path, model, config, {"epoch": epoch, "val_dice": score})
        if args.max_steps and used >= args.max_steps:
            break
    (args.out / "history.json").write_text(json.dumps(history, indent=2))
    return finish(args, model_path, val_set or train_set, samples, log)


def finish(
    args: argparse.Namespace, model_path: Path, eval_set: list[Any], samples: list[Any], log: Any
) -> dict[str, Any]:
    from ml_worker.bodycomp.network import load_seg_checkpoint

    model, config, _ = load_seg_checkpoint(model_path)
    segmenter = NetworkSegmenter(model, config, name=args.model_name, version="candidate",
                                 device=select_device())  # fmt: skip
    metrics = evaluate_segmenter(segmenter, eval_set)
    log(format_metrics(metrics, "validation (native resolution)"))
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    summary: dict[str, Any] = {"metrics": metrics, "model": str(model_path)}
    if args.register_to is not None:
        record = register_seg_model(
            args.register_to,
            model_path,
            name=args.model_name,
            metrics=metrics,
            training_data={"source": args.data, **data_summary(samples)},
            code_version=code_version(),
        )
        log(f"registered {record.name} version {record.version}")
        summary["registered"] = {"name": record.name, "version": record.version}
    return summary


if __name__ == "__main__":
    main(get_args_parser().parse_args())

"""Train the spine-level classifier with the reference protocol: Adam lr 1e-4,
batch 16, up to 100 epochs, the best epoch kept by validation accuracy,
augmentation and class balancing for the rare classes, set-valued targets for
coarse labels, splits by case and optional held-out centres.

CLI: python -m ml_worker.training.train --data manifest.csv|phantom:N
     --arch tiny --epochs 100 --batch-size 16 --lr 1e-4 --out run_dir [--resume]
     [--val-centre X] [--register-to var/models --model-name spine-levels]
     (or --preset demo: tiny model on phantoms in a few CPU minutes)

A run folder holds last.pt and best.pt (weights, optimizer, epoch, args, git
SHA, history), model.pt (best weights only: what gets registered),
history.json/.png, metrics.json and the per-class tables under eval/.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import (
    DataLoader,
    RandomSampler,
    Sampler,
    SequentialSampler,
    WeightedRandomSampler,
)

from ml_worker import config as worker_config
from ml_worker import registry
from ml_worker.model import (
    ARCHS,
    LevelClassifier,
    ModelConfig,
    autocast_dtype,
    build_model,
    load_checkpoint,
    save_checkpoint,
)
from ml_worker.runtime import select_device
from ml_worker.training.data import (
    Augment,
    PhantomStream,
    SliceDataset,
    SliceRecord,
    balance_weights,
    class_loss_weights,
    data_summary,
    labelled,
    load_source,
    split_by_case,
    split_by_centre,
)
from ml_worker.training.evaluate import (
    accuracy_by_class,
    correct,
    evaluate_model,
    format_table,
    plot_history,
    set_valued_nll,
    write_report,
)

# Presets fill in defaults; flags given on the command line still win.
PRESETS: dict[str, dict[str, Any]] = {
    # The tiny network on phantoms, sized for a 2-core CPU (minutes, not hours):
    # training slices are rendered on demand at 64 px from new patients in a
    # DataLoader worker (one core) while the network trains on the other; 40
    # phantom series are split between validation and test. Departures from
    # the reference, measured on this preset: no augmentation (the stream never
    # repeats a patient, and augmenting cost ~2 points of accuracy at this
    # budget), and lr 2e-3 with cosine decay (a small network from scratch
    # converges faster with it).
    "demo": {
        "data": "phantom:40",
        "phantom_stream": True,
        "arch": "tiny",
        "input_size": 64,
        "epochs": 40,
        "samples_per_epoch": 3000,
        "batch_size": 16,
        "lr": 2e-3,
        "lr_schedule": "cosine",
        "augment": False,
        "disc_output": True,
        "val_fraction": 0.5,
        "test_fraction": 0.5,
        "threads": 1,  # two spinning OpenMP threads on two shared cores run slower than one
        "num_workers": 1,
        "out": Path("var/runs/demo"),
        "register_to": Path(worker_config.MODEL_REGISTRY_DIR),
    },
}


# --- Data ---------------------------------------------------------------------------------


@dataclass
class Data:
    train: SliceDataset | PhantomStream
    val: SliceDataset
    test: SliceDataset | None
    external: dict[str, SliceDataset] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def load_data(args: argparse.Namespace, input_size: int) -> Data:
    """Split by case into train/val/test; `--val-centre` centres are kept out
    whole for external validation."""
    records, read_hu = load_source(
        args.data, size=input_size, phantom_seed=args.seed,
        slice_thickness_mm=args.slice_thickness, centres=args.phantom_centres,
    )  # fmt: skip
    external: dict[str, list[SliceRecord]] = {}
    if args.val_centre:
        records, external = split_by_centre(records, args.val_centre)
    augment = Augment() if args.augment else None
    stream = args.phantom_stream and args.data.startswith("phantom:")
    if stream:  # every series case validates or tests; training renders its own patients
        test_share = args.test_fraction / (args.val_fraction + args.test_fraction)
        val, test = split_by_case(records, [test_share], args.seed) if test_share else (records, [])
        train: SliceDataset | PhantomStream = PhantomStream(
            args.seed + 1, args.samples_per_epoch or 3000, input_size, augment=augment,
            disc_output=args.disc_output,
        )  # fmt: skip
        summary = {"train": train.summary()}
    else:
        fractions = [args.val_fraction, args.test_fraction]
        train_records, val, test = split_by_case(records, fractions, args.seed)
        train = SliceDataset(train_records, read_hu, input_size, augment=augment, seed=args.seed)
        summary = {"train": data_summary(train_records)}
    if not labelled(val):
        raise ValueError("the validation split has no labelled slices; give it more cases")
    summary["val"] = data_summary(val)
    if test:
        summary["test"] = data_summary(test)
    summary.update({f"external_{c}": data_summary(r) for c, r in external.items()})
    return Data(
        train=train,
        val=SliceDataset(val, read_hu, input_size),
        test=SliceDataset(test, read_hu, input_size) if test else None,
        external={c: SliceDataset(r, read_hu, input_size) for c, r in external.items()},
        summary=summary,
    )


def make_sampler(
    dataset: SliceDataset | PhantomStream,
    balance: str,
    num_samples: int,
    generator: torch.Generator,
) -> Sampler[int]:
    """Inverse-frequency sampling with replacement for `balance == "sampler"`,
    plain shuffling otherwise (loss weights, if any, do the balancing). A
    phantom stream is balanced and random already: it is read in order."""
    if isinstance(dataset, PhantomStream):
        return SequentialSampler(dataset)
    if balance == "sampler":
        weights = balance_weights(dataset.records)
        return WeightedRandomSampler(weights, num_samples, replacement=True, generator=generator)
    return RandomSampler(dataset, num_samples=num_samples, generator=generator)


# --- One epoch ----------------------------------------------------------------------------


def learning_rate(args: argparse.Namespace, epoch: int) -> float:
    """The lr of an epoch (1-based): a function of the epoch, so resuming needs no
    scheduler state (resuming with a new --epochs follows the new cosine)."""
    if args.lr_schedule == "constant":
        return float(args.lr)
    return float(args.lr) * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / max(args.epochs, 1)))


def train_one_epoch(
    model: LevelClassifier,
    loader: DataLoader[Any],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    class_weight: torch.Tensor | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, float]:
    """One pass over `loader`; returns the mean loss and accuracy of its batches."""
    model.train()
    dtype = autocast_dtype(device)
    weight = class_weight.to(device) if class_weight is not None else None
    total_loss, hits, seen = 0.0, 0, 0
    for x, mask in loader:
        x = x.to(device, memory_format=torch.channels_last, non_blocking=True)
        mask = mask.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x)
        loss = set_valued_nll(logits, mask, weight)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total_loss += float(loss.detach()) * len(x)
        hits += int(correct(logits.detach(), mask).sum())
        seen += len(x)
    return {"loss": total_loss / max(seen, 1), "accuracy": hits / max(seen, 1)}


# --- Checkpoints and provenance -----------------------------------------------------------


def code_version() -> str:
    """git SHA of the code that trained the model, "+dirty" with uncommitted changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = _git(root, "rev-parse", "HEAD")
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f"{sha}+dirty" if dirty else sha


def _git(root: Path, *command: str) -> str:
    done = subprocess.run(
        ["git", *command], cwd=root, capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def plain_args(args: argparse.Namespace) -> dict[str, Any]:
    """Args as plain values (checkpoints load with weights_only=True)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    best_epoch: int = 0
    best_val_accuracy: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def checkpoint_extra(self, args: argparse.Namespace, sha: str) -> dict[str, Any]:
        return {
            "args": plain_args(args),
            "git_sha": sha,
            "best_epoch": self.best_epoch,
            "best_val_accuracy": self.best_val_accuracy,
            "history": self.history,
        }


def resume_state(path: Path, model: LevelClassifier, optimizer: torch.optim.Optimizer) -> RunState:
    """Load weights, optimizer and the run's counters from last.pt."""
    checkpoint = load_checkpoint(path)
    if checkpoint.config != model.config:
        raise ValueError(f"{path} is a {checkpoint.config}, not a {model.config}")
    model.load_state_dict(checkpoint.model.state_dict())
    if checkpoint.optimizer_state is not None:
        optimizer.load_state_dict(checkpoint.optimizer_state)
    extra = checkpoint.extra
    return RunState(
        epoch=int(checkpoint.epoch or 0),
        best_epoch=int(extra.get("best_epoch", 0)),
        best_val_accuracy=float(extra.get("best_val_accuracy", -1.0)),
        history=list(extra.get("history", [])),
    )


# --- Main ---------------------------------------------------------------------------------


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train the spine-level classifier.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None)
    parser.add_argument("--data", help="manifest (CSV or JSONL) of DICOM slices, or phantom:N")
    parser.add_argument("--out", type=Path, default=None, help="run folder")
    parser.add_argument("--arch", choices=ARCHS, default="efficientnet_v2_s")
    parser.add_argument("--input-size", type=int, default=None, help="default: the arch's")
    parser.add_argument("--imagenet-weights", type=Path, default=None, help="local .pth")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument(
        "--lr-schedule", choices=("constant", "cosine"), default="constant",
        help="constant (the reference) or cosine decay over --epochs",
    )  # fmt: skip
    parser.add_argument(
        "--samples-per-epoch", type=int, default=None, help="default: training set size"
    )
    parser.add_argument("--balance", choices=("sampler", "loss", "none"), default="sampler")
    parser.add_argument(
        "--augment", action=argparse.BooleanOptionalAction, default=True,
        help="random shifts, rotations, scale and intensity jitter of the HU slice (no flips)",
    )  # fmt: skip
    parser.add_argument("--val-fraction", type=float, default=0.15, help="of cases")
    parser.add_argument("--test-fraction", type=float, default=0.0, help="of cases")
    parser.add_argument(
        "--val-centre", action="append", default=[], help="hold out a centre (repeatable)"
    )
    parser.add_argument("--phantom-centres", nargs="+", default=["A", "B", "C"])
    parser.add_argument("--slice-thickness", type=float, default=5.0, help="phantom mm")
    parser.add_argument(
        "--phantom-stream", action=argparse.BooleanOptionalAction, default=False,
        help="with phantom:N, train on slices rendered on demand from new patients; "
        "the N series cases are split between validation and test",
    )  # fmt: skip
    parser.add_argument(
        "--disc-output", action=argparse.BooleanOptionalAction, default=False,
        help="one more output, 'the slice cuts a disc', which the sequence decoder counts "
        "vertebrae by; trained on phantom streams only (their disc slices are exact)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: best available)")
    parser.add_argument("--resume", action="store_true", help="continue from out/last.pt")
    parser.add_argument("--register-to", type=Path, default=None, help="model registry root")
    parser.add_argument("--model-name", default=worker_config.MODEL_NAME)
    parser.add_argument("--quiet", action="store_true")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse with a preset's values as defaults, so explicit flags override it."""
    parser = get_args_parser()
    known, _ = parser.parse_known_args(argv)
    if known.preset:
        parser.set_defaults(**PRESETS[known.preset])
    args = parser.parse_args(argv)
    for name in ("data", "out"):
        if not getattr(args, name):
            parser.error(f"--{name} is required (or a --preset that sets it)")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.disc_output and not (args.phantom_stream and args.data.startswith("phantom:")):
        parser.error("--disc-output trains on a phantom stream only (--phantom-stream phantom:N)")
    if args.val_fraction <= 0 or args.test_fraction < 0:
        parser.error("--val-fraction must be positive and --test-fraction not negative")
    return args


def main(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    log = _logger(args.quiet)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else select_device()
    torch.manual_seed(args.seed)
    config = ModelConfig.for_arch(
        args.arch,
        disc_output=args.disc_output,
        **({"input_size": args.input_size} if args.input_size else {}),
    )
    data = load_data(args, config.input_size)
    log(_describe_data(data))
    model = build_model(config, imagenet_weights_path=args.imagenet_weights)
    model.to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    args.out.mkdir(parents=True, exist_ok=True)
    state = RunState()
    if args.resume and (args.out / "last.pt").is_file():
        state = resume_state(args.out / "last.pt", model, optimizer)
        log(f"resumed from epoch {state.epoch} (best {state.best_epoch})")
    fit(model, optimizer, data, state, args, device, log)
    metrics = finish(data, state, args, device, log, seconds=time.perf_counter() - started)
    return metrics


def fit(
    model: LevelClassifier,
    optimizer: torch.optim.Optimizer,
    data: Data,
    state: RunState,
    args: argparse.Namespace,
    device: torch.device,
    log: Any,
) -> None:
    """Epochs state.epoch+1 .. args.epochs; last.pt every epoch, best.pt on a new best.

    Every epoch reseeds torch, the sampler and the augmentation from (seed,
    epoch), so a resumed run trains exactly like an uninterrupted one.
    """
    sha = code_version()
    generator = torch.Generator()
    n_samples = (
        len(data.train)
        if isinstance(data.train, PhantomStream)
        else (args.samples_per_epoch or len(data.train))
    )
    sampler = make_sampler(data.train, args.balance, n_samples, generator)
    loader = DataLoader(
        data.train, batch_size=args.batch_size, sampler=sampler, num_workers=args.num_workers,
        pin_memory=device.type == "cuda", drop_last=n_samples > args.batch_size,
    )  # fmt: skip
    weight = None
    if args.balance == "loss" and isinstance(data.train, SliceDataset):
        weight = class_loss_weights(data.train.records)
    scaler = torch.amp.GradScaler("cuda") if autocast_dtype(device) == torch.float16 else None
    for epoch in range(state.epoch + 1, args.epochs + 1):
        tick = time.perf_counter()
        torch.manual_seed(args.seed * 100_003 + epoch)
        generator.manual_seed(args.seed * 100_003 + epoch)
        data.train.set_epoch(epoch)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args, epoch)
        train = train_one_epoch(
            model, loader, optimizer, device, class_weight=weight, scaler=scaler
        )
        val = evaluate_model(model, data.val, batch_size=64, device=device)
        record = {
            "epoch": epoch,
            "train_loss": train["loss"],
            "train_accuracy": train["accuracy"],
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "lr": learning_rate(args, epoch),
            "seconds": round(time.perf_counter() - tick, 1),
        }
        state.history.append(record)
        state.epoch = epoch
        improved = val["accuracy"] > state.best_val_accuracy
        if improved:
            state.best_epoch, state.best_val_accuracy = epoch, val["accuracy"]
        extra = state.checkpoint_extra(args, sha)
        save_checkpoint(args.out / "last.pt", model, optimizer=optimizer, epoch=epoch, extra=extra)
        if improved:
            save_checkpoint(
                args.out / "best.pt", model, optimizer=optimizer, epoch=epoch, extra=extra
            )
        (args.out / "history.json").write_text(json.dumps(state.history, indent=2))
        log(_epoch_line(record, improved))


def finish(
    data: Data,
    state: RunState,
    args: argparse.Namespace,
    device: torch.device,
    log: Any,
    *,
    seconds: float,
) -> dict[str, Any]:
    """Evaluate best.pt on validation, test and held-out centres; write the
    tables, PNGs, metrics.json and model.pt; register when asked."""
    best = load_checkpoint(args.out / "best.pt", map_location=device)
    model = best.model.to(memory_format=torch.channels_last)
    reports = {"val": evaluate_model(model, data.val, device=device)}
    if data.test is not None:
        reports["test"] = evaluate_model(model, data.test, device=device)
    for centre, dataset in data.external.items():
        reports[f"external_{centre}"] = evaluate_model(model, dataset, device=device)
    eval_dir = args.out / "eval"
    for name, report in reports.items():
        write_report(report, eval_dir, name)
        log(format_table(report, f"{name} (best epoch {state.best_epoch})"))
    plot_history(state.history, args.out / "history.png")
    metrics = registry_metrics(reports, state, seconds)
    (args.out / "metrics.json").write_text(json.dumps({**metrics, "reports": reports}, indent=2))
    extra = {**best.extra, "metrics": metrics, "training_data": data.summary}
    save_checkpoint(args.out / "model.pt", model, epoch=best.epoch, extra=extra)
    if args.register_to is not None:
        record = registry.register(
            args.register_to, args.model_name, args.out / "model.pt", metrics=metrics,
            training_data=data.summary, code_version=best.extra.get("git_sha", ""),
        )  # fmt: skip
        metrics["registered"] = {"name": record.name, "version": record.version}
        log(f"registered {record.name} version {record.version} under {args.register_to}")
    log(f"done in {seconds / 60:.1f} min; best epoch {state.best_epoch}")
    return metrics


def registry_metrics(
    reports: dict[str, dict[str, Any]], state: RunState, seconds: float
) -> dict[str, Any]:
    """What a model version records: accuracies, per-class accuracy (test set
    when there is one), per held-out centre accuracy, training length."""
    main_set = "test" if "test" in reports else "val"
    metrics: dict[str, Any] = {
        "val_accuracy": round(reports["val"]["accuracy"], 4),
        "best_epoch": state.best_epoch,
        "epochs": state.epoch,
        "train_seconds": round(seconds, 1),
        "per_class_set": main_set,
        "per_class_accuracy": accuracy_by_class(reports[main_set]),
    }
    if "test" in reports:
        metrics["test_accuracy"] = round(reports["test"]["accuracy"], 4)
    external = {k.removeprefix("external_"): v for k, v in reports.items() if "external_" in k}
    if external:
        metrics["external_accuracy"] = {c: round(r["accuracy"], 4) for c, r in external.items()}
    return metrics


def _logger(quiet: bool) -> Any:
    def log(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    return log


def _describe_data(data: Data) -> str:
    parts = [
        f"{name}: {s['cases']} cases, {s['slices']} slices"
        if "cases" in s
        else f"{name}: {s['slices_per_epoch']} slices per epoch rendered on demand"
        for name, s in data.summary.items()
    ]
    return "data: " + "; ".join(parts)


def _epoch_line(record: dict[str, Any], improved: bool) -> str:
    return (
        f"epoch {record['epoch']:3d}  train loss {record['train_loss']:.4f} "
        f"acc {100 * record['train_accuracy']:.2f} %  val loss {record['val_loss']:.4f} "
        f"acc {100 * record['val_accuracy']:.2f} %  {record['seconds']:.0f} s"
        + ("  *best*" if improved else "")
    )


if __name__ == "__main__":
    main(parse_args(sys.argv[1:]))

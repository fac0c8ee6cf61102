"""Training and evaluation as worker jobs (tasks `ml_worker.train_classifier`
and `ml_worker.evaluate_classifier`): a frozen dataset version's manifest rows
come with the task, its instances are fetched over DICOMweb into a cache, and
the reference training loop (train.fit / train.finish) runs on the manifest's
own splits — the platform froze them; nothing is re-split here.

Task arguments (sent by name to the `gpu` queue):

    parameters = {"dataset_version": "<project slug>:v<n>", "preset": "demo"|"reference",
                  "epochs": int, "samples_per_epoch": int|None, "seed": int,
                  "model_version": str (evaluation only)}
    data = {"columns": [manifest column, ...], "rows": [[value, ...], ...]}
        # datasets.MANIFEST_COLUMNS: path, case_id, centre, label, scheme, split,
        # study/series/sop_instance_uid, ...

Result schemas "classifier-training/1" and "classifier-evaluation/1": the
model (and its registry record), per-set reports (accuracy, per-class rows,
per-centre accuracy), history, and PNG/JSON artifacts base64-encoded.
"""

from __future__ import annotations

import base64
import csv
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pydicom
import torch
from dicomweb_client import DICOMwebClient

from ml_worker import registry
from ml_worker.bodycomp.job import fetch_slices
from ml_worker.model import ModelConfig, build_model
from ml_worker.runtime import select_device
from ml_worker.training import train
from ml_worker.training.data import (
    Augment,
    SliceDataset,
    SliceRecord,
    data_summary,
    read_file_hu,
    read_manifest,
)
from ml_worker.training.evaluate import (
    accuracy_by_class,
    evaluate_model,
    plot_confusion,
)

TRAINING_SCHEMA = "classifier-training/1"
EVALUATION_SCHEMA = "classifier-evaluation/1"
PRESETS = ("demo", "reference")
Progress = Callable[[float, str], None]


class TrainingJobError(ValueError):
    """The job cannot run as asked; the message is for the user."""


# --- Data ---------------------------------------------------------------------------------


def materialise(data: dict[str, Any], work: Path, client: DICOMwebClient, progress: Progress
                ) -> list[tuple[SliceRecord, str]]:  # fmt: skip
    """Write the manifest, fetch the instances it lists that are not cached yet
    (WADO-RS, one request each), and return (record, split) per slice."""
    columns, rows = list(data.get("columns") or []), list(data.get("rows") or [])
    needed = {"path", "split", "study_instance_uid", "series_instance_uid", "sop_instance_uid"}
    if not rows or not needed <= set(columns):
        raise TrainingJobError("the dataset's manifest rows are missing or incomplete")
    work.mkdir(parents=True, exist_ok=True)
    manifest = work / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    col = {name: i for i, name in enumerate(columns)}
    missing: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        if not (work / row[col["path"]]).is_file():
            key = (row[col["study_instance_uid"]], row[col["series_instance_uid"]])
            missing[key].append(row[col["sop_instance_uid"]])
    for done, ((study, series), uids) in enumerate(missing.items(), start=1):
        folder = work / "dicom" / series
        folder.mkdir(parents=True, exist_ok=True)
        for ds in fetch_slices(client, study, series, uids):
            partial = folder / f"{ds.SOPInstanceUID}.part"
            pydicom.dcmwrite(partial, ds, enforce_file_format=True)
            partial.replace(folder / f"{ds.SOPInstanceUID}.dcm")
        progress(0.1 * done / len(missing), f"fetched {done}/{len(missing)} series")
    records = read_manifest(manifest)
    return [(record, str(row[col["split"]])) for record, row in zip(records, rows, strict=True)]


def by_split(pairs: list[tuple[SliceRecord, str]]) -> dict[str, list[SliceRecord]]:
    """{"train"|"validation"|"test": records, "external_<centre>": records}."""
    parts: dict[str, list[SliceRecord]] = defaultdict(list)
    for record, split in pairs:
        parts[f"external_{record.centre}" if split == "external" else split].append(record)
    return dict(parts)


# --- Reports and artifacts ----------------------------------------------------------------


def compact_report(report: dict[str, Any]) -> dict[str, Any]:
    """A set's report without the confusion matrix: accuracy, per-class rows,
    and accuracy plus per-class accuracy per centre."""
    return {
        "slices": report["slices"],
        "correct": report["correct"],
        "accuracy": round(report["accuracy"], 4),
        "per_class": report["per_class"],
        "per_centre": {
            centre: {
                "slices": sub["slices"],
                "accuracy": round(sub["accuracy"], 4),
                "per_class_accuracy": accuracy_by_class(sub),
            }
            for centre, sub in report.get("per_centre", {}).items()
        },
    }


def artifacts_of(folder: Path, reports: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Confusion matrix PNG and per-class table JSON per set, history PNG/JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for name, report in reports.items():
        table = folder / f"{name}_per_class.json"
        table.write_text(json.dumps(compact_report(report), indent=2))
        files.append(table)
        if "confusion" in report:
            matrix = torch.tensor(report["confusion"]["matrix"]).numpy()
            files.append(plot_confusion(matrix, folder / f"{name}_confusion.png", name))
    for extra in ("history.png", "history.json"):
        if (folder / extra).is_file():
            files.append(folder / extra)
    return [
        {
            "name": path.name,
            "content_type": "image/png" if path.suffix == ".png" else "application/json",
            "data": base64.b64encode(path.read_bytes()).decode(),
        }
        for path in files
    ]


# --- Training -----------------------------------------------------------------------------


def training_args(parameters: dict[str, Any], out: Path) -> Any:
    """train.py's arguments for a manifest run: the preset's protocol (the
    reference's defaults, or demo's tiny network) with the job's epochs."""
    preset = str(parameters.get("preset") or "demo")
    if preset not in PRESETS:
        raise TrainingJobError(f"unknown preset {preset!r}; choose one of {PRESETS}")
    argv = ["--data", str(out / "manifest.csv"), "--out", str(out / "run")]
    argv += ["--epochs", str(int(parameters.get("epochs") or 1)), "--quiet"]
    argv += ["--seed", str(int(parameters.get("seed") or 0))]
    if preset != "reference":
        argv += ["--preset", preset]
    # A manifest of files: no phantom stream or disc output; read in-process.
    argv += ["--no-phantom-stream", "--no-disc-output", "--num-workers", "0"]
    args = train.parse_args(argv)
    args.samples_per_epoch = parameters.get("samples_per_epoch") or None
    args.register_to = None  # registered below, with the dataset version and all metrics
    args.val_centre = []
    return args


def run_training(
    parameters: dict[str, Any],
    data: dict[str, Any],
    client: DICOMwebClient,
    *,
    work_root: Path,
    registry_root: Path,
    model_name: str,
    progress: Progress,
) -> dict[str, Any]:
    started = time.perf_counter()
    tag = str(parameters.get("dataset_version") or "")
    work = work_root / tag.replace(":", "_")
    parts = by_split(materialise(data, work, client, progress))
    args = training_args(parameters, work)
    if args.threads:
        torch.set_num_threads(args.threads)
    train_records = [r for r in parts.get("train", []) if r.label is not None]
    val_records = [r for r in parts.get("validation", []) if r.label is not None]
    if not train_records or not val_records:
        raise TrainingJobError("the dataset needs labelled train and validation slices")
    device = select_device()
    torch.manual_seed(args.seed)
    config = ModelConfig.for_arch(args.arch, **({"input_size": args.input_size}
                                                if args.input_size else {}))  # fmt: skip
    size = config.input_size
    externals = {k.removeprefix("external_"): v for k, v in parts.items() if k.startswith("ext")}
    summary: dict[str, Any] = {"dataset_version": tag, "train": data_summary(train_records),
                               "val": data_summary(val_records)}  # fmt: skip
    if parts.get("test"):
        summary["test"] = data_summary(parts["test"])
    summary.update({f"external_{c}": data_summary(r) for c, r in externals.items()})
    run = train.Data(
        train=SliceDataset(train_records, read_file_hu, size, seed=args.seed,
                           augment=Augment() if args.augment else None),
        val=SliceDataset(val_records, read_file_hu, size),
        test=SliceDataset(parts["test"], read_file_hu, size) if parts.get("test") else None,
        external={c: SliceDataset(r, read_file_hu, size) for c, r in externals.items()},
        summary=summary,
    )  # fmt: skip
    model = build_model(config).to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    args.out.mkdir(parents=True, exist_ok=True)
    state = train.RunState()
    train.fit(model, optimizer, run, state, args, device, _epoch_reporter(state, args, progress))
    progress(0.9, "evaluating the best epoch")
    metrics = train.finish(run, state, args, device, lambda _m: None,
                           seconds=time.perf_counter() - started)  # fmt: skip
    reports = json.loads((args.out / "metrics.json").read_text())["reports"]
    metrics["per_centre"] = per_centre_metrics(reports)
    record = registry.register(
        registry_root, model_name, args.out / "model.pt", metrics=metrics,
        training_data=summary, code_version=train.code_version(), make_current=False,
    )  # fmt: skip
    return {
        "schema": TRAINING_SCHEMA,
        "dataset_version": tag,
        "model": {"name": record.name, "version": record.version, "sha256": record.sha256},
        "record": asdict(record),
        "reports": {name: compact_report(r) for name, r in reports.items()},
        "history": state.history,
        "artifacts": artifacts_of(args.out, reports),
    }


def _epoch_reporter(state: train.RunState, args: Any, progress: Progress) -> Callable[[str], None]:
    """fit() logs a line per epoch after appending its record: report that record."""

    def log(_line: str) -> None:
        if not state.history:
            return
        h = state.history[-1]
        progress(
            0.1 + 0.8 * h["epoch"] / args.epochs,
            f"epoch {h['epoch']}/{args.epochs} · loss {h['train_loss']:.3f} · "
            f"accuracy {100 * h['train_accuracy']:.1f} % · "
            f"val loss {h['val_loss']:.3f} · val accuracy {100 * h['val_accuracy']:.1f} %",
        )

    return log


def per_centre_metrics(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per centre: accuracy and per-class accuracy on the test split (internal
    centres) or on the whole held-out centre (external validation)."""
    out: dict[str, Any] = {}
    main = "test" if "test" in reports else "val"
    for centre, sub in reports.get(main, {}).get("per_centre", {}).items():
        out[centre] = {"set": main, "slices": sub["slices"], "accuracy": round(sub["accuracy"], 4),
                       "per_class_accuracy": accuracy_by_class(sub)}  # fmt: skip
    for name, report in reports.items():
        if name.startswith("external_"):
            out[name.removeprefix("external_")] = {
                "set": "external", "slices": report["slices"],
                "accuracy": round(report["accuracy"], 4),
                "per_class_accuracy": accuracy_by_class(report),
            }  # fmt: skip
    return out


# --- Evaluation ---------------------------------------------------------------------------


def run_evaluation(
    parameters: dict[str, Any],
    data: dict[str, Any],
    client: DICOMwebClient,
    *,
    work_root: Path,
    registry_root: Path,
    model_name: str,
    progress: Progress,
) -> dict[str, Any]:
    """Evaluate a registered version on the test split and each held-out centre
    (the validation split too when there is no test split)."""
    tag = str(parameters.get("dataset_version") or "")
    name = str(parameters.get("model_name") or model_name)
    record = registry.resolve(registry_root, name, str(parameters["model_version"]))
    device = select_device()
    checkpoint = registry.load(registry_root, record, device)
    work = work_root / tag.replace(":", "_")
    parts = by_split(materialise(data, work, client, progress))
    sets = {k: v for k, v in parts.items() if k == "test" or k.startswith("external_")}
    if not sets and parts.get("validation"):
        sets = {"val": parts["validation"]}
    sets = {k: v for k, v in sets.items() if any(r.label is not None for r in v)}
    if not sets:
        raise TrainingJobError("the dataset has no labelled test, validation or external slices")
    size = checkpoint.config.input_size
    model = checkpoint.model.to(memory_format=torch.channels_last)
    reports = {}
    for done, (set_name, records) in enumerate(sorted(sets.items()), start=1):
        reports[set_name] = evaluate_model(model, SliceDataset(records, read_file_hu, size),
                                           device=device)  # fmt: skip
        progress(0.1 + 0.85 * done / len(sets), f"evaluated {set_name}")
    folder = work / "eval" / f"{name}-{record.version}"
    return {
        "schema": EVALUATION_SCHEMA,
        "dataset_version": tag,
        "model": {"name": record.name, "version": record.version, "sha256": record.sha256},
        "reports": {k: compact_report(r) for k, r in reports.items()},
        "per_centre": per_centre_metrics(
            {("test" if k == "val" else k): r for k, r in reports.items()}
        ),
        "artifacts": artifacts_of(folder, reports),
    }

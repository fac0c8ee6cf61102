"""Segmentation models in the same local registry as the level classifier
(`ml_worker.registry`: <root>/<name>/<version>/model.pt + model.json, and
current.json), under the name "bodycomp-seg" unless configured. The
classifier's `registry.register` only accepts classifier checkpoints, so this
registers ours with the same layout and record; `registry.resolve`,
`list_versions` and `set_current` work on both."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ml_worker import registry
from ml_worker.bodycomp.network import NetConfig, load_seg_checkpoint

DEFAULT_NAME = "bodycomp-seg"


def register_seg_model(
    root: Path,
    checkpoint: Path,
    *,
    name: str = DEFAULT_NAME,
    metrics: dict[str, Any] | None = None,
    training_data: dict[str, Any] | None = None,
    code_version: str = "",
    make_current: bool = True,
) -> registry.ModelRecord:
    """Copy a bodycomp checkpoint in as the next version (1, 2, ...)."""
    _, config, _ = load_seg_checkpoint(checkpoint)  # refuses anything else
    existing = registry.list_versions(root, name)
    version = str(int(existing[-1].version) + 1 if existing else 1)
    target = Path(root) / name / version
    target.mkdir(parents=True, exist_ok=False)
    shutil.copyfile(checkpoint, target / registry.MODEL_FILE)
    record = registry.ModelRecord(
        name=name,
        version=version,
        sha256=registry.file_sha256(target / registry.MODEL_FILE),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        config={"kind": "bodycomp-seg", **config.to_dict()},
        metrics=metrics or {},
        training_data=training_data or {},
        code_version=code_version,
    )
    tmp = target / f".{registry.RECORD_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(record), indent=2, sort_keys=True))
    os.replace(tmp, target / registry.RECORD_FILE)
    if make_current:
        registry.set_current(root, name, version)
    return record


def load_seg_model(
    root: Path, record: registry.ModelRecord, device: torch.device
) -> tuple[nn.Module, NetConfig]:
    """A registered version after checking its file is the one recorded."""
    path = record.path(root)
    if registry.file_sha256(path) != record.sha256:
        raise registry.RegistryError(f"{path} does not match its recorded sha256")
    model, config, _ = load_seg_checkpoint(path, map_location=device)
    return model, config

"""Versioned model files on local disk: workers load a chosen version, never a
download. Layout: <root>/<name>/<version>/model.pt + model.json (sha256,
config, metrics, training data summary, code version), and <root>/<name>/current
naming the version used when a job asks for none."""

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from ml_worker.model import Checkpoint, load_checkpoint

MODEL_FILE = "model.pt"
RECORD_FILE = "model.json"


class RegistryError(Exception):
    pass


@dataclass(frozen=True)
class ModelRecord:
    name: str
    version: str
    sha256: str
    created_at: str
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)
    code_version: str = ""

    def path(self, root: Path) -> Path:
        return Path(root) / self.name / self.version / MODEL_FILE


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_versions(root: Path, name: str) -> list[ModelRecord]:
    base = Path(root) / name
    if not base.is_dir():
        return []
    records = [_read_record(d) for d in base.iterdir() if (d / RECORD_FILE).is_file()]
    return sorted(records, key=lambda r: int(r.version) if r.version.isdigit() else 0)


def register(
    root: Path,
    name: str,
    checkpoint: Path,
    *,
    metrics: dict[str, Any] | None = None,
    training_data: dict[str, Any] | None = None,
    code_version: str = "",
    make_current: bool = True,
) -> ModelRecord:
    """Copy a checkpoint in as the next version (1, 2, ...) and record it."""
    loaded = load_checkpoint(checkpoint)  # refuses files that are not our checkpoints
    existing = list_versions(root, name)
    version = str(int(existing[-1].version) + 1 if existing else 1)
    target = Path(root) / name / version
    target.mkdir(parents=True, exist_ok=False)
    shutil.copyfile(checkpoint, target / MODEL_FILE)
    record = ModelRecord(
        name=name,
        version=version,
        sha256=file_sha256(target / MODEL_FILE),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        config=loaded.config.to_dict(),
        metrics=metrics or {},
        training_data=training_data or {},
        code_version=code_version,
    )
    _write_json(target / RECORD_FILE, asdict(record))
    if make_current:
        set_current(root, name, version)
    return record


def set_current(root: Path, name: str, version: str) -> None:
    if not (Path(root) / name / version / RECORD_FILE).is_file():
        raise RegistryError(f"model {name} has no version {version}")
    _write_json(Path(root) / name / "current.json", {"version": version})


def resolve(root: Path, name: str, version: str | None = None) -> ModelRecord:
    """The requested version, else the current one, else the newest."""
    if version is None:
        pointer = Path(root) / name / "current.json"
        if pointer.is_file():
            version = json.loads(pointer.read_text())["version"]
    if version is None:
        versions = list_versions(root, name)
        if not versions:
            raise RegistryError(f"no versions of model {name} under {root}")
        return versions[-1]
    folder = Path(root) / name / str(version)
    if not (folder / RECORD_FILE).is_file():
        raise RegistryError(f"model {name} has no version {version}")
    return _read_record(folder)


def load(root: Path, record: ModelRecord, device: torch.device) -> Checkpoint:
    """Load a registered version after checking its file is the one recorded."""
    path = record.path(root)
    if file_sha256(path) != record.sha256:
        raise RegistryError(f"{path} does not match its recorded sha256")
    return load_checkpoint(path, map_location=device)


def _read_record(folder: Path) -> ModelRecord:
    return ModelRecord(**json.loads((folder / RECORD_FILE).read_text()))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)

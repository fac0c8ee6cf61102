from pathlib import Path

import pytest
import torch

from ml_worker import registry
from ml_worker.model import ModelConfig, build_model, save_checkpoint


def _checkpoint(tmp_path: Path, name: str) -> Path:
    model = build_model(ModelConfig.for_arch("tiny", input_size=64))
    return save_checkpoint(tmp_path / name, model, extra={"note": name})


def test_register_versions_and_current(tmp_path: Path) -> None:
    root = tmp_path / "models"
    first = registry.register(
        root,
        "levels",
        _checkpoint(tmp_path, "a.pt"),
        metrics={"test_accuracy": 0.9},
        training_data={"slices": 100},
    )
    second = registry.register(root, "levels", _checkpoint(tmp_path, "b.pt"), make_current=False)
    assert (first.version, second.version) == ("1", "2")
    assert [r.version for r in registry.list_versions(root, "levels")] == ["1", "2"]
    assert registry.resolve(root, "levels").version == "1"  # current, not newest
    registry.set_current(root, "levels", "2")
    assert registry.resolve(root, "levels").version == "2"
    assert registry.resolve(root, "levels", "1").metrics == {"test_accuracy": 0.9}
    assert first.sha256 == registry.file_sha256(first.path(root))


def test_load_checks_the_recorded_hash(tmp_path: Path) -> None:
    root = tmp_path / "models"
    record = registry.register(root, "levels", _checkpoint(tmp_path, "a.pt"))
    loaded = registry.load(root, record, torch.device("cpu"))
    assert loaded.config.arch == "tiny"
    with record.path(root).open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(registry.RegistryError, match="sha256"):
        registry.load(root, record, torch.device("cpu"))


def test_unknown_versions_and_foreign_files_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "models"
    with pytest.raises(registry.RegistryError):
        registry.resolve(root, "levels")
    registry.register(root, "levels", _checkpoint(tmp_path, "a.pt"))
    with pytest.raises(registry.RegistryError):
        registry.resolve(root, "levels", "7")
    junk = tmp_path / "junk.pt"
    torch.save({"format": 99}, junk)
    with pytest.raises(ValueError):
        registry.register(root, "levels", junk)

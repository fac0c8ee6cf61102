"""The trainable segmenter: a couple of training steps on tiny phantom slices,
registration in the model registry, loading by method, evaluation. Accuracy
is not under test here (bench/bodycomp measures it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml_worker import registry
from ml_worker.bodycomp import evaluate, train
from ml_worker.bodycomp.data import load_samples, manifest_samples, split_by_case
from ml_worker.bodycomp.evaluate import dice
from ml_worker.bodycomp.factory import make_segmenter
from ml_worker.bodycomp.network import PRESETS, build_unet, load_seg_checkpoint, save_seg_checkpoint
from ml_worker.bodycomp.segmenter import Segmenter
from tests.ml_worker.bodycomp_cases import phantom_slices, truth_masks


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bodycomp")
    args = train.get_args_parser().parse_args(
        ["--data", "phantom:6", "--preset", "tiny", "--epochs", "1", "--batch-size", "2",
         "--max-steps", "2", "--out", str(root / "run"), "--register-to", str(root / "models"),
         "--quiet"]
    )  # fmt: skip
    summary = train.main(args)
    assert summary["registered"] == {"name": "bodycomp-seg", "version": "1"}
    assert set(summary["metrics"]["tissues"]) == {"muscle", "imat", "sat", "vat"}
    return root


def test_training_registers_a_version(trained: Path) -> None:
    record = registry.resolve(trained / "models", "bodycomp-seg")
    assert record.version == "1" and record.config["kind"] == "bodycomp-seg"
    assert record.training_data["slices"] == 6 and "mean_dice" in record.metrics
    assert (trained / "run" / "history.json").is_file()


def test_network_segmenter_is_loaded_by_method(trained: Path) -> None:
    segmenter, sha = make_segmenter("network", root=trained / "models")
    assert isinstance(segmenter, Segmenter) and segmenter.version == "1"
    assert sha == registry.resolve(trained / "models", "bodycomp-seg").sha256
    hu = np.full((70, 90), -1000.0, dtype=np.float32)
    hu[10:60, 10:80] = 40.0
    masks = segmenter.segment(hu, (0.8, 0.8))
    assert masks.shape == (70, 90)
    labels = masks.label_map()
    assert labels.dtype == np.uint8 and labels.max() <= 4
    with pytest.raises(ValueError, match="method"):
        make_segmenter("magic", root=trained / "models")


def test_evaluate_cli_reports_dice_per_tissue(trained: Path) -> None:
    args = evaluate.get_args_parser().parse_args(
        ["--data", "phantom:2", "--registry", str(trained / "models"), "--out", str(trained / "ev")]
    )
    metrics = evaluate.main(args)
    assert set(metrics["tissues"]) == {"muscle", "imat", "sat", "vat"}
    assert (trained / "ev" / "metrics.json").is_file()
    assert (
        dice(np.ones(4, bool), np.ones(4, bool)) == 1.0
        and dice(np.zeros(2, bool), np.zeros(2, bool)) is None
    )


def test_checkpoints_of_other_kinds_are_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="bodycomp-seg"):
        load_seg_checkpoint(tmp_path / "other.pt")
    path = save_seg_checkpoint(tmp_path / "ok.pt", build_unet(PRESETS["tiny"]), PRESETS["tiny"])
    model, config, _ = load_seg_checkpoint(path)
    assert config == PRESETS["tiny"] and sum(p.numel() for p in model.parameters()) > 0


def test_manifest_of_verified_masks_loads_in_standard_orientation(tmp_path: Path) -> None:
    cases = phantom_slices(tmp_path / "ct", levels=("L3", "L3"), size=64)
    lines = ["image,mask,case,centre,level"]
    for index in range(len(cases.datasets)):
        labels = truth_masks(cases.tissues[index]).label_map()
        np.savez_compressed(tmp_path / f"m{index}.npz", labels=labels)
        lines.append(f"ct/IM{index + 1:04d}.dcm,m{index}.npz,case{index},A,L3")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    samples = manifest_samples(tmp_path / "manifest.csv")
    assert [s.case for s in samples] == ["case0", "case1"] and samples[0].centre == "A"
    assert np.array_equal(samples[0].labels, truth_masks(cases.tissues[0]).label_map())
    train_set, val_set = split_by_case(samples, 0.5)
    assert len(train_set) == len(val_set) == 1
    assert len(load_samples("phantom:3")) == 3

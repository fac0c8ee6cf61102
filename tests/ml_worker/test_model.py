"""The classifier: configs, shapes, local ImageNet weights, checkpoints, inference settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import efficientnet_v2_s

from ml_worker.levels import FINE_LEVELS, NUM_CLASSES
from ml_worker.model import (
    ModelConfig,
    autocast_dtype,
    build_model,
    inference_context,
    load_checkpoint,
    prepare_for_inference,
    save_checkpoint,
)

TINY = ModelConfig(arch="tiny", input_size=64)


def test_config_round_trips_through_a_dict() -> None:
    config = ModelConfig.for_arch("efficientnet_v2_m", dropout=0.3)
    assert config.input_size == 512
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert ModelConfig.for_arch("tiny").input_size == 128
    assert config.num_classes == NUM_CLASSES


def test_unknown_arch_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown arch"):
        ModelConfig(arch="resnet50")  # type: ignore[arg-type]


def test_tiny_model_is_small_and_gives_logits_and_cams_in_one_pass() -> None:
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        logits = model(x)
        out = model(x, with_cams=True, cam_size=(16, 16))
    assert logits.shape == (2, NUM_CLASSES) and logits.dtype == torch.float32
    torch.testing.assert_close(out.logits, logits)
    assert out.cams.shape == (2, 16, 16)
    assert float(out.cams.min()) >= 0.0 and float(out.cams.max()) <= 1.0
    assert out.class_index.tolist() == logits.argmax(1).tolist()
    native = model(x, with_cams=True, class_index=torch.tensor([3, 18])).cams
    assert native.shape == (2, 4, 4)  # overall stride 16


def test_imagenet_state_dict_loads_everything_but_the_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = efficientnet_v2_s(weights=None)  # a stand-in for the local ImageNet file
    path = tmp_path / "imagenet_v2_s.pth"
    torch.save(reference.state_dict(), path)
    model = build_model(ModelConfig(), imagenet_weights_path=path)
    loaded = model.net.state_dict()
    for key, value in reference.state_dict().items():
        if key.startswith("classifier."):
            assert loaded[key].shape != value.shape  # 19-class head, freshly initialised
        else:
            assert torch.equal(loaded[key], value), key
    assert model.head.weight.shape == (NUM_CLASSES, 1280)


def test_a_state_dict_of_another_arch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pth"
    torch.save(build_model(TINY).net.state_dict(), path)
    with pytest.raises(ValueError, match="does not match the backbone"):
        build_model(ModelConfig(), imagenet_weights_path=path)


def test_checkpoint_round_trip_gives_identical_logits(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(TINY)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(3, 3, 64, 64)
    model.train()
    torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 5, 18])).backward()
    optimizer.step()  # moves BN running statistics and creates optimizer state
    model.eval()
    path = save_checkpoint(
        tmp_path / "ckpt" / "best.pt", model, optimizer=optimizer, epoch=7, extra={"git": "abc"}
    )
    loaded = load_checkpoint(path, map_location="cpu")
    assert loaded.config == TINY and loaded.labels == FINE_LEVELS
    assert loaded.epoch == 7 and loaded.extra == {"git": "abc"}
    assert loaded.optimizer_state is not None and loaded.optimizer_state["state"]
    assert not loaded.model.training
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model(x), model(x), rtol=0, atol=0)


def test_checkpoint_with_another_label_map_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", build_model(TINY))
    payload = torch.load(path, weights_only=True)
    payload["labels"] = list(reversed(FINE_LEVELS))
    torch.save(payload, path)
    with pytest.raises(ValueError, match="label map"):
        load_checkpoint(path)


def test_cpu_inference_is_fp32_under_inference_mode_and_channels_last() -> None:
    device = torch.device("cpu")
    assert autocast_dtype(device) is None
    model = prepare_for_inference(build_model(TINY), device)
    assert not model.training
    stem = model.net.features[0][0].weight
    assert stem.is_contiguous(memory_format=torch.channels_last)
    with inference_context(device):
        assert torch.is_inference_mode_enabled()
        logits = model(torch.rand(1, 3, 64, 64).contiguous(memory_format=torch.channels_last))
    assert logits.dtype == torch.float32


def test_a_disc_output_adds_one_logit_that_cams_never_explain() -> None:
    config = ModelConfig(arch="tiny", input_size=64, disc_output=True)
    assert config.outputs == NUM_CLASSES + 1
    assert ModelConfig.from_dict(config.to_dict()) == config
    old = {k: v for k, v in config.to_dict().items() if k != "disc_output"}
    assert ModelConfig.from_dict(old).disc_output is False  # models saved before the option
    torch.manual_seed(0)
    model = build_model(config).eval()
    with torch.no_grad():
        model.head.bias[NUM_CLASSES] = 100.0  # every slice a disc
        out = model(torch.rand(2, 3, 64, 64), with_cams=True)
    assert out.logits.shape == (2, NUM_CLASSES + 1)
    assert out.class_index.tolist() == out.logits[:, :NUM_CLASSES].argmax(1).tolist()

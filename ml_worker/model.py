"""The spine-level classifier: EfficientNetV2 (torchvision) over 19 classes,
with class activation maps from the same forward pass, and checkpoints.

Weights never come from the internet: networks are built with weights=None
and an ImageNet state dict is loaded only from a local file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast, get_args, overload

import torch
from torch import Tensor, nn
from torchvision.models import efficientnet as tv_effnet

from ml_worker.cam import class_activation_maps
from ml_worker.levels import FINE_LEVELS, NUM_CLASSES

Arch = Literal["efficientnet_v2_s", "efficientnet_v2_m", "tiny"]
ARCHS: tuple[str, ...] = get_args(Arch)
DEFAULT_INPUT_SIZE: dict[str, int] = {
    "efficientnet_v2_s": 512,
    "efficientnet_v2_m": 512,
    "tiny": 128,
}
# Inputs are [0, 1] windows; ImageNet statistics keep an ImageNet-initialised
# stem in the range it was trained on (harmless when training from scratch).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class ModelConfig:
    arch: Arch = "efficientnet_v2_s"
    input_size: int = 512
    num_classes: int = NUM_CLASSES
    dropout: float = 0.2
    # One more output after the levels: the slice cuts an intervertebral disc.
    disc_output: bool = False

    @property
    def outputs(self) -> int:
        return self.num_classes + int(self.disc_output)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; expected one of {ARCHS}")
        if self.input_size < 32 or self.num_classes < 2 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"invalid model config {self}")

    @classmethod
    def for_arch(cls, arch: Arch, **overrides: Any) -> ModelConfig:
        """The arch's default input size (512 for S/M, 128 for tiny) unless overridden."""
        return cls(arch=arch, **{"input_size": DEFAULT_INPUT_SIZE[arch], **overrides})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        fields = {k: data[k] for k in ("arch", "input_size", "num_classes", "dropout")}
        return cls(**fields, disc_output=bool(data.get("disc_output", False)))


class LevelOutput(NamedTuple):
    logits: Tensor  # [B, K]
    cams: Tensor  # [B, H, W] float32 in [0, 1]
    class_index: Tensor  # [B] the class each map explains


class LevelClassifier(nn.Module):
    """EfficientNet wrapper: `forward(x)` → logits; `forward(x, with_cams=True)` →
    logits plus per-slice CAMs of the last convolutional block, same pass."""

    mean: Tensor
    std: Tensor

    def __init__(self, net: tv_effnet.EfficientNet, config: ModelConfig) -> None:
        super().__init__()
        self.net = net
        self.config = config
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def last_conv_block(self) -> nn.Module:
        """The block whose CAM equals Grad-CAM (its output feeds the pooling head)."""
        return cast(nn.Module, self.net.features[-1])

    @property
    def head(self) -> nn.Linear:
        return cast(nn.Linear, self.net.classifier[-1])

    def features(self, x: Tensor) -> Tensor:
        """[B, 3, S, S] windows in [0, 1] → last-block activations [B, C, h, w]."""
        return cast(Tensor, self.net.features((x - self.mean) / self.std))

    def logits(self, activations: Tensor) -> Tensor:
        pooled = torch.flatten(self.net.avgpool(activations), 1)
        return cast(Tensor, self.net.classifier(pooled))

    def cams(
        self,
        activations: Tensor,
        class_index: Tensor,
        size: tuple[int, int] | None = None,
    ) -> Tensor:
        return class_activation_maps(activations, self.head.weight, class_index, size)

    @overload
    def forward(self, x: Tensor) -> Tensor: ...

    @overload
    def forward(
        self,
        x: Tensor,
        *,
        with_cams: Literal[True],
        class_index: Tensor | None = None,
        cam_size: tuple[int, int] | None = None,
    ) -> LevelOutput: ...

    def forward(
        self,
        x: Tensor,
        *,
        with_cams: bool = False,
        class_index: Tensor | None = None,
        cam_size: tuple[int, int] | None = None,
    ) -> Tensor | LevelOutput:
        """CAMs explain `class_index` ([B], e.g. the series decoder's classes) or
        else the predicted class; `cam_size` None keeps the block's resolution."""
        activations = self.features(x)
        logits = self.logits(activations)
        if not with_cams:
            return logits
        levels = logits[:, : self.config.num_classes]  # a CAM explains a level, not "disc"
        index = levels.argmax(dim=1) if class_index is None else class_index.to(logits.device)
        return LevelOutput(logits, self.cams(activations, index, cam_size), index)


# --- Building ---------------------------------------------------------------------------


def _tiny_net(config: ModelConfig) -> tv_effnet.EfficientNet:
    """EfficientNetV2 in miniature (0.39 M parameters, 0.05 GMAC at 128 px): fused
    stages then MBConv, overall stride 16 so a 128 px input still gives an 8×8 CAM."""
    setting: list[tv_effnet.MBConvConfig | tv_effnet.FusedMBConvConfig] = [
        tv_effnet.FusedMBConvConfig(1, 3, 1, 16, 16, 1),
        tv_effnet.FusedMBConvConfig(4, 3, 2, 16, 32, 1),
        tv_effnet.FusedMBConvConfig(4, 3, 2, 32, 48, 1),
        tv_effnet.MBConvConfig(4, 3, 2, 48, 96, 2),
        tv_effnet.MBConvConfig(6, 3, 1, 96, 128, 1),
    ]
    return tv_effnet.EfficientNet(
        setting,
        config.dropout,
        stochastic_depth_prob=0.1,
        num_classes=config.outputs,
        norm_layer=partial(nn.BatchNorm2d, eps=1e-3),
        last_channel=256,
    )


def build_model(
    config: ModelConfig, *, imagenet_weights_path: Path | None = None
) -> LevelClassifier:
    """A freshly initialised classifier; with `imagenet_weights_path` (a local
    torchvision state dict of the same arch) every layer but the head is loaded."""
    if config.arch == "tiny":
        net = _tiny_net(config)
    else:
        factory = getattr(tv_effnet, config.arch)
        net = factory(weights=None, num_classes=config.outputs, dropout=config.dropout)
    if imagenet_weights_path is not None:
        load_backbone_weights(net, imagenet_weights_path)
    return LevelClassifier(net, config)


def load_backbone_weights(net: nn.Module, path: Path) -> None:
    """Load a local state dict except `classifier.*` (1000 ImageNet classes ≠ 19).

    Anything else missing or unexpected is an error: a silently half-loaded
    backbone trains, but to a worse model.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):  # tolerate common training-script wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    backbone = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    own = {k: v for k, v in net.state_dict().items() if not k.startswith("classifier.")}
    missing = sorted(own.keys() - backbone.keys())
    unexpected = sorted(backbone.keys() - own.keys())
    reshaped = sorted(k for k in own.keys() & backbone.keys() if own[k].shape != backbone[k].shape)
    if missing or unexpected or reshaped:
        raise ValueError(
            f"{path.name} does not match the backbone: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, other shape {reshaped[:3]}"
        )
    net.load_state_dict(backbone, strict=False)


# --- Inference settings -----------------------------------------------------------------


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA when supported (no overflow risk), else fp16; None (fp32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def inference_context(device: torch.device) -> Iterator[None]:
    """inference_mode plus the device's autocast."""
    dtype = autocast_dtype(device)
    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=dtype):
                yield


def prepare_for_inference(model: LevelClassifier, device: torch.device) -> LevelClassifier:
    """eval mode, on `device`, channels_last (1.3–1.9× faster for these convnets)."""
    model.eval().to(device)
    return model.to(memory_format=torch.channels_last)


# --- Checkpoints ------------------------------------------------------------------------


@dataclass
class Checkpoint:
    model: LevelClassifier
    config: ModelConfig
    labels: tuple[str, ...]
    epoch: int | None = None
    optimizer_state: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: Path,
    model: LevelClassifier,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Weights, config and label map (plus optimizer/epoch when training).

    `extra` holds plain values such as the git SHA or validation metrics. Tensors
    are saved from CPU and the file is replaced atomically, so a reader never
    sees half a checkpoint.
    """
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "config": model.config.to_dict(),
        "labels": list(FINE_LEVELS),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "epoch": epoch,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": dict(extra or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path, *, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model in eval mode on `map_location` (weights_only: no pickled code)."""
    payload = torch.load(Path(path), map_location=map_location, weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"unsupported checkpoint format {payload.get('format')!r}")
    labels = tuple(payload["labels"])
    if labels != FINE_LEVELS:
        raise ValueError(f"checkpoint label map {labels} differs from {FINE_LEVELS}")
    config = ModelConfig.from_dict(payload["config"])
    model = build_model(config)
    model.load_state_dict(payload["state_dict"])
    model.to(map_location).eval()
    return Checkpoint(
        model=model,
        config=config,
        labels=labels,
        epoch=payload.get("epoch"),
        optimizer_state=payload.get("optimizer"),
        extra=payload.get("extra") or {},
    )

"""The trainable segmenter: a 2-D MONAI U-Net (weights=None: trained here,
never downloaded) over two HU windows, five classes (background + `Tissue`).

Input contract: the slice in standard orientation, HU windowed to a
soft-tissue channel (-200..250 HU, where fat and muscle separate) and a wide
channel (-1000..1000, air, lung and bone), each mapped onto [0, 1], resized to
`input_size` square (padded on air first so the aspect ratio holds). Logits go
back to the slice's own size before the argmax, so masks and areas are at
native resolution. Training and inference both use `net_input`.

Checkpoint (torch.save, weights_only-safe): {"format": FORMAT, "config":
NetConfig dict, "state_dict", "extra": {...}}.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.nets import UNet
from torch import nn

from ml_worker.bodycomp.tissues import TissueMasks
from ml_worker.preprocess import pad_to_square

FORMAT = "bodycomp-seg/1"
NUM_CLASSES = 5  # background, muscle, imat, sat, vat
WINDOWS: tuple[tuple[float, float], ...] = ((-200.0, 250.0), (-1000.0, 1000.0))


@dataclass(frozen=True)
class NetConfig:
    input_size: int = 256
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    res_units: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetConfig:
        return cls(int(data["input_size"]), tuple(int(c) for c in data["channels"]),
                   int(data["res_units"]))  # fmt: skip


PRESETS = {
    "tiny": NetConfig(input_size=96, channels=(8, 16, 32), res_units=0),  # tests
    "small": NetConfig(input_size=192, channels=(16, 32, 64, 128), res_units=1),  # CPU minutes
    "base": NetConfig(),
}


def build_unet(config: NetConfig) -> nn.Module:
    return UNet(
        spatial_dims=2,
        in_channels=len(WINDOWS),
        out_channels=NUM_CLASSES,
        channels=config.channels,
        strides=(2,) * (len(config.channels) - 1),
        num_res_units=config.res_units,
        norm="instance",
    )


def net_input(hu: np.ndarray, size: int) -> torch.Tensor:
    """HU slice (standard orientation) -> float32 [2, size, size]."""
    square = torch.from_numpy(pad_to_square(np.asarray(hu, dtype=np.float32)))
    channels = torch.stack([((square - lo) / (hi - lo)).clamp_(0.0, 1.0) for lo, hi in WINDOWS])
    if channels.shape[-1] == size:
        return channels
    return F.interpolate(channels[None], size=(size, size), mode="bilinear", antialias=True)[0]


def labels_to_input_grid(labels: np.ndarray, size: int) -> torch.Tensor:
    """A label map in the slice's grid -> int64 [size, size] on the input grid."""
    rows, cols = labels.shape
    side = max(rows, cols)
    square = np.zeros((side, side), dtype=np.int64)
    top, left = (side - rows) // 2, (side - cols) // 2
    square[top : top + rows, left : left + cols] = labels
    tensor = torch.from_numpy(square)[None, None].float()
    return F.interpolate(tensor, size=(size, size), mode="nearest")[0, 0].long()


def logits_to_labels(logits: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """[C, size, size] logits -> uint8 label map of the original slice shape."""
    rows, cols = shape
    side = max(rows, cols)
    up = F.interpolate(logits[None].float(), size=(side, side), mode="bilinear")[0]
    top, left = (side - rows) // 2, (side - cols) // 2
    labels = up[:, top : top + rows, left : left + cols].argmax(0)
    return labels.to(torch.uint8).cpu().numpy()


class NetworkSegmenter:
    """`Segmenter` over a trained U-Net; `version` is the registry version."""

    def __init__(
        self, model: nn.Module, config: NetConfig, *, name: str, version: str, device: torch.device
    ) -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.name = name
        self.version = version
        self.device = device

    def segment(self, hu: np.ndarray, spacing_mm: tuple[float, float]) -> TissueMasks:
        del spacing_mm  # the network sees the body's outline; resizing makes it scale-free
        x = net_input(hu, self.config.input_size)[None].to(self.device)
        with torch.inference_mode():
            logits = self.model(x)[0]
        return TissueMasks.from_label_map(logits_to_labels(logits, hu.shape))


def save_seg_checkpoint(
    path: Path, model: nn.Module, config: NetConfig, extra: dict[str, Any] | None = None
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "config": config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_seg_checkpoint(
    path: Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, NetConfig, dict[str, Any]]:
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} checkpoint")
    config = NetConfig.from_dict(payload["config"])
    model = build_unet(config)
    model.load_state_dict(payload["state_dict"])
    return model, config, payload.get("extra", {})

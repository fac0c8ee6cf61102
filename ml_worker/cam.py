"""Class activation maps: closed form inside the forward pass, and Grad-CAM by
autograd for any layer.

Why the closed form is exact: the classifier head is global average pooling
followed by one linear layer, so d logit_c / d A_k(i, j) = W[c, k] / (h·w) at
every position. Grad-CAM's channel weights are then W[c] / (h·w), and its map
relu(Σ_k W[c, k] A_k) / (h·w) equals the CAM up to a positive scale that the
per-map min-max normalisation removes. So every slice gets its explanation
from activations the forward pass computes anyway, with no backward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EPS = 1e-12


def normalize_maps(maps: Tensor) -> Tensor:
    """Per-map min-max of relu(maps) onto [0, 1]; a constant map becomes all zeros."""
    maps = torch.relu(maps.float())
    flat = maps.flatten(1)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    scaled = torch.where(span > EPS, (flat - low) / span.clamp_min(EPS), torch.zeros_like(flat))
    return scaled.view_as(maps)


def postprocess_maps(raw: Tensor, size: tuple[int, int] | None = None) -> Tensor:
    """Raw maps [B, h, w] → ReLU, bilinear resize to `size` (None keeps h×w), normalise."""
    maps = torch.relu(raw.float())
    if size is not None and tuple(maps.shape[-2:]) != tuple(size):
        maps = F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return normalize_maps(maps)


def class_activation_maps(
    activations: Tensor,
    weight: Tensor,
    class_index: Tensor,
    size: tuple[int, int] | None = None,
) -> Tensor:
    """CAMs [B, H, W] in [0, 1] for one class per sample.

    activations: [B, C, h, w] output of the last convolutional block;
    weight: [K, C] of the linear head; class_index: [B] class per sample.
    Computed in float32 with autocast off: the activations may be bf16/fp16, and
    autocast would run the einsum's matmul in half precision again.
    """
    with torch.autocast(device_type=activations.device.type, enabled=False):
        w = weight.float()[class_index.to(weight.device)]  # [B, C]
        raw = torch.einsum("bc,bchw->bhw", w, activations.float())
        return postprocess_maps(raw, size)


def grad_cam(
    model: nn.Module,
    layer: nn.Module,
    x: Tensor,
    class_index: Tensor | int,
    *,
    size: tuple[int, int] | None = None,
) -> Tensor:
    """Grad-CAM [B, H, W] in [0, 1] of `layer` for `class_index` (int or [B]).

    `model(x)` must return logits [B, K]. Put the model in eval mode first (dropout
    and batch statistics would otherwise change the maps). `size` None keeps the
    layer's resolution. Needs autograd, so it refuses to run under inference_mode;
    the input gets requires_grad so frozen weights still yield gradients. Its
    forward hook is removed even when the forward pass fails.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError("grad_cam needs autograd; call it outside torch.inference_mode")
    captured: list[Tensor] = []
    handle = layer.register_forward_hook(_capture_output(captured))
    try:
        with torch.enable_grad():
            logits = model(x.detach().requires_grad_(True))
    finally:
        handle.remove()
    if len(captured) != 1:
        raise RuntimeError(f"layer ran {len(captured)} times in one forward pass; expected once")
    activations = captured[0]
    index = _as_index(class_index, logits.shape[0], logits.device)
    score = logits.gather(1, index[:, None]).sum()  # samples are independent in eval mode
    (grads,) = torch.autograd.grad(score, activations)
    weights = grads.float().mean(dim=(2, 3), keepdim=True)
    raw = (weights * activations.detach().float()).sum(dim=1)
    return postprocess_maps(raw, size)


def _capture_output(store: list[Tensor]) -> Callable[[nn.Module, object, object], None]:
    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        if not isinstance(output, Tensor) or output.ndim != 4:
            raise TypeError("grad_cam needs a layer whose output is a [B, C, h, w] tensor")
        store.append(output)

    return hook


def _as_index(class_index: Tensor | int, batch: int, device: torch.device) -> Tensor:
    if isinstance(class_index, int):
        return torch.full((batch,), class_index, dtype=torch.long, device=device)
    # clone: an index made under inference_mode cannot enter an autograd graph
    return class_index.to(device=device, dtype=torch.long).reshape(batch).clone()

"""Class activation maps: the closed form equals autograd Grad-CAM at the last block."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ml_worker.cam import grad_cam, normalize_maps
from ml_worker.model import Arch, ModelConfig, build_model

CAM_SIZE = (24, 24)


def test_maps_are_normalised_per_map_with_a_safe_zero_map() -> None:
    maps = torch.stack(
        [
            torch.tensor([[-1.0, 2.0], [4.0, 6.0]]),  # ReLU, then min-max over 0..6
            torch.full((2, 2), 3.0),  # constant: no contrast to show
            torch.full((2, 2), -2.0),  # all negative: nothing supports the class
        ]
    )
    out = normalize_maps(maps)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 1 / 3], [2 / 3, 1.0]]))
    assert torch.count_nonzero(out[1:]) == 0


@pytest.mark.parametrize("arch", ["tiny", "efficientnet_v2_s", "efficientnet_v2_m"])
def test_closed_form_cam_equals_autograd_grad_cam_at_the_last_block(arch: Arch) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, input_size=64)).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        out = model(x, with_cams=True, cam_size=CAM_SIZE)
    reference = grad_cam(model, model.last_conv_block, x, out.class_index, size=CAM_SIZE)
    assert float(reference.amax()) == pytest.approx(1.0)  # a real map, not the zero fallback
    torch.testing.assert_close(out.cams, reference, atol=1e-5, rtol=0)


def test_closed_form_cam_of_a_given_class_equals_grad_cam() -> None:
    torch.manual_seed(1)
    model = build_model(ModelConfig(arch="tiny", input_size=64)).eval()
    x = torch.rand(3, 3, 64, 64)
    classes = torch.tensor([0, 9, 18])  # e.g. the series decoder's classes, not the argmax
    with torch.inference_mode():
        cams = model(x, with_cams=True, class_index=classes, cam_size=CAM_SIZE).cams
    expected = grad_cam(model, model.last_conv_block, x, classes, size=CAM_SIZE)
    torch.testing.assert_close(cams, expected, atol=1e-5, rtol=0)


def test_grad_cam_runs_on_another_layer_and_differs() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="tiny", input_size=64)).eval()
    x = torch.rand(2, 3, 64, 64)
    last = grad_cam(model, model.last_conv_block, x, 5)
    earlier_layer = model.net.features[2]  # stride 4: a 16×16 map
    earlier = grad_cam(model, earlier_layer, x, 5)
    assert earlier.shape == (2, 16, 16) and last.shape == (2, 4, 4)
    resized = F.interpolate(last[:, None], size=(16, 16), mode="bilinear")[:, 0]
    assert not torch.allclose(earlier, resized, atol=1e-2)
    assert float(earlier.min()) >= 0.0 and float(earlier.max()) <= 1.0


def test_grad_cam_removes_its_hook_and_refuses_inference_mode() -> None:
    model = build_model(ModelConfig(arch="tiny", input_size=64)).eval()
    layer = model.last_conv_block
    grad_cam(model, layer, torch.rand(1, 3, 64, 64), 0)
    assert not layer._forward_hooks
    with pytest.raises(TypeError, match="tensor"):  # the head's output has no spatial map
        grad_cam(model, model.head, torch.rand(1, 3, 64, 64), 0)
    assert not model.head._forward_hooks
    with torch.inference_mode(), pytest.raises(RuntimeError, match="needs autograd"):
        grad_cam(model, layer, torch.rand(1, 3, 64, 64), 0)


def test_grad_cam_works_with_frozen_weights() -> None:
    model = build_model(ModelConfig(arch="tiny", input_size=64)).eval().requires_grad_(False)
    maps = grad_cam(model, model.last_conv_block, torch.rand(2, 3, 64, 64), 1)
    assert maps.shape == (2, 4, 4)

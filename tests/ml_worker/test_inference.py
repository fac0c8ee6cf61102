"""Series inference: batching, prefetch overlap, CAMs and the JSON result schema."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

from ml_worker.inference import SCHEMA, SeriesPrediction, predict_series
from ml_worker.levels import FINE_LEVELS, NUM_CLASSES
from ml_worker.model import LevelClassifier, ModelConfig, build_model
from ml_worker.preprocess import hu_to_input
from ml_worker.synthetic import CTVolume, make_ct_volume, make_patient, write_ct_series

CPU = torch.device("cpu")
INPUT = 64
N_SLICES = 6


@pytest.fixture(scope="module")
def volume() -> CTVolume:
    return make_ct_volume(n_slices=N_SLICES, rows=48, cols=48, seed=5)


@pytest.fixture
def model() -> LevelClassifier:
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="tiny", input_size=INPUT))


def plain_forward(model: LevelClassifier, volume: CTVolume) -> torch.Tensor:
    x = torch.stack([hu_to_input(hu, INPUT) for hu in volume.hu])
    with torch.inference_mode():
        return torch.softmax(model.eval()(x), dim=1)


def test_probs_sum_to_one_and_equal_a_plain_batched_forward(
    model: LevelClassifier, volume: CTVolume
) -> None:
    result = predict_series(model, list(volume.hu), batch_size=4, device=CPU, cam_size=(16, 16))
    assert result.probs.shape == (N_SLICES, NUM_CLASSES) and result.probs.dtype == np.float32
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(result.probs, plain_forward(model, volume).numpy(), atol=1e-5)
    assert result.cams is not None and result.cam_classes is not None
    assert result.cams.shape == (N_SLICES, 16, 16) and result.cams.dtype == np.uint8
    assert result.cams.max() == 255
    assert result.cam_classes.tolist() == result.probs.argmax(axis=1).tolist()
    assert result.timings.batches == 2 and result.timings.forward_s > 0
    assert result.timings.total_s >= result.timings.forward_s + result.timings.cam_s


def test_datasets_give_the_same_result_as_hu_arrays(
    model: LevelClassifier, volume: CTVolume, tmp_path: Path
) -> None:
    paths = write_ct_series(volume, tmp_path, patient=make_patient(0), transfer_syntax="rle")
    from_files = predict_series(
        model, (pydicom.dcmread(p) for p in paths), batch_size=3, device=CPU, with_cams=False
    )
    from_arrays = predict_series(model, list(volume.hu), batch_size=2, device=CPU, with_cams=False)
    assert from_files.cams is None and from_files.cam_classes is None
    np.testing.assert_allclose(from_files.probs, from_arrays.probs, atol=1e-5)


def test_cams_explain_the_classes_passed_in(model: LevelClassifier, volume: CTVolume) -> None:
    wanted = [18, 0, 3, 3, 7, 12]
    result = predict_series(
        model, list(volume.hu), batch_size=4, device=CPU, cam_size=(8, 8), cam_classes=wanted
    )
    assert result.cam_classes is not None and result.cam_classes.tolist() == wanted
    x = torch.stack([hu_to_input(hu, INPUT) for hu in volume.hu])
    with torch.inference_mode():
        cams = model(x, with_cams=True, class_index=torch.tensor(wanted), cam_size=(8, 8)).cams
    assert result.cams is not None
    np.testing.assert_allclose(result.cams, (cams * 255).round().numpy(), atol=1)


def test_json_result_is_compact_and_round_trips(model: LevelClassifier, volume: CTVolume) -> None:
    result = predict_series(model, list(volume.hu), batch_size=4, device=CPU, cam_size=(16, 16))
    data = json.loads(json.dumps(result.to_json()))
    assert data["schema"] == SCHEMA and data["labels"] == list(FINE_LEVELS)
    assert data["n_slices"] == N_SLICES and len(data["cams"]["data"]) == N_SLICES
    assert data["predicted"] == result.probs.argmax(axis=1).tolist()
    assert data["model"]["arch"] == "tiny" and data["device"] == "cpu"
    back = SeriesPrediction.from_json(data)
    np.testing.assert_allclose(back.probs, result.probs, atol=5e-5)
    assert back.cams is not None and result.cams is not None
    np.testing.assert_array_equal(back.cams, result.cams)


def test_an_empty_series_gives_empty_arrays(model: LevelClassifier) -> None:
    result = predict_series(model, [], batch_size=2, device=CPU, cam_size=(8, 8))
    assert result.probs.shape == (0, NUM_CLASSES)
    assert result.cams is not None and result.cams.shape == (0, 8, 8)
    assert result.to_json()["n_slices"] == 0


def test_a_failing_producer_raises_in_the_caller(model: LevelClassifier, volume: CTVolume) -> None:
    def broken() -> Iterator[np.ndarray]:
        yield from volume.hu[:3]
        raise ConnectionError("DICOMweb went away")

    with pytest.raises(ConnectionError, match="went away"):
        predict_series(model, broken(), batch_size=2, device=CPU)


class SlowModel(LevelClassifier):
    """Stands in for a big network: a fixed cost per forward pass."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(FORWARD_S)
        return super().features(x)


PRODUCE_S, FORWARD_S, N_SLOW, BATCH = 0.05, 0.1, 8, 2


def test_prefetching_overlaps_a_slow_producer_with_the_forward_pass(volume: CTVolume) -> None:
    base = build_model(ModelConfig(arch="tiny", input_size=32))
    model = SlowModel(base.net, base.config)

    def slow_source() -> Iterator[np.ndarray]:
        for index in range(N_SLOW):
            time.sleep(PRODUCE_S)  # e.g. one WADO-RS frame request
            yield volume.hu[index % N_SLICES]

    predict_series(model, volume.hu[:2], batch_size=BATCH, device=CPU, with_cams=False)  # warm up
    result = predict_series(model, slow_source(), batch_size=BATCH, device=CPU, with_cams=False)
    t = result.timings
    serial = t.fetch_s + t.preprocess_s + t.forward_s  # what the run costs without overlap
    assert t.fetch_s >= N_SLOW * PRODUCE_S * 0.95
    assert t.forward_s >= (N_SLOW // BATCH) * FORWARD_S
    # Ideally every batch's fetch but the first hides behind a forward pass. Stated
    # as time saved, so CPU contention slowing the forward pass cannot fail it.
    hideable = (N_SLOW - BATCH) * PRODUCE_S
    assert t.total_s < serial - 0.5 * hideable
    assert t.wait_s < t.fetch_s - 0.5 * hideable


def test_a_disc_output_gives_disc_probabilities_and_level_probabilities_without_it(
    volume: CTVolume,
) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="tiny", input_size=INPUT, disc_output=True))
    result = predict_series(model, list(volume.hu), batch_size=4, device=CPU, with_cams=False)
    x = torch.stack([hu_to_input(hu, INPUT) for hu in volume.hu])
    with torch.inference_mode():
        full = torch.softmax(model.eval()(x), dim=1).numpy()
    assert result.probs.shape == (N_SLICES, NUM_CLASSES)
    assert result.disc_probs is not None and result.disc_probs.shape == (N_SLICES,)
    np.testing.assert_allclose(result.disc_probs, full[:, -1], atol=1e-5)
    # P(level | not a disc): the level columns renormalised.
    levels = full[:, :-1] / full[:, :-1].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(result.probs, levels, atol=1e-5)
    back = SeriesPrediction.from_json(result.to_json())
    assert back.disc_probs is not None
    np.testing.assert_allclose(back.disc_probs, result.disc_probs, atol=1e-4)


def test_a_model_without_disc_output_reports_none(model: LevelClassifier, volume: CTVolume) -> None:
    result = predict_series(model, list(volume.hu), device=CPU, with_cams=False)
    assert result.disc_probs is None and result.to_json()["disc_probs"] is None

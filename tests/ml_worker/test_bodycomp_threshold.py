"""The rule-based segmenter's anatomy rules on full-size phantom slices: the
organs that touch muscle with no fat between (liver, spleen, kidneys, bowel,
aorta) and the contents of the vertebral canal are not muscle."""

from __future__ import annotations

import numpy as np
import pytest

from ml_worker.bodycomp.threshold import ThresholdSegmenter
from ml_worker.bodycomp.vertebra import Vertebra
from ml_worker.synthetic import make_anatomy
from ml_worker.synthetic.phantom import render_slice, render_structures
from ml_worker.synthetic.phantom_tissues import ID

ORGANS = ("liver", "spleen", "kidney", "bowel", "blood", "csf", "cord")


def _slice(
    seed: int, level: str, size: int = 384
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    anatomy = make_anatomy(seed)
    rng = np.random.default_rng(seed)
    z = float(np.mean(anatomy.body_range(level)))
    spacing = 420.0 / size
    ids = render_structures(anatomy, z, rows=size, cols=size, pixel_spacing_mm=spacing)
    hu, tissues = render_slice(anatomy, z, rows=size, cols=size, pixel_spacing_mm=spacing, rng=rng)
    return hu.astype(np.float32), tissues, ids, spacing


@pytest.mark.parametrize(("seed", "level"), [(1002, "L1"), (1003, "T12"), (1004, "L4")])
def test_organs_touching_muscle_stay_out(seed: int, level: str) -> None:
    hu, tissues, ids, spacing = _slice(seed, level)
    masks = ThresholdSegmenter().segment(hu, (spacing, spacing))
    truth = tissues == 1
    organ = np.isin(ids, [ID[name] for name in ORGANS])
    assert organ.sum() > 1000  # the slice really has organs to confuse
    assert (masks.muscle & organ).sum() < 0.05 * truth.sum()
    dice = 2 * (masks.muscle & truth).sum() / (masks.muscle.sum() + truth.sum())
    assert dice > 0.9
    assert abs(int(masks.muscle.sum()) - int(truth.sum())) < 0.15 * truth.sum()


def test_vertebra_landmarks_order_body_canal_and_processes() -> None:
    hu, _, ids, spacing = _slice(1000, "L3")
    vertebra = Vertebra.find(hu > 150, (spacing, spacing))
    assert vertebra is not None
    canal_rows = np.nonzero(vertebra.canal)[0]
    body_rows = np.nonzero(vertebra.body)[0]
    # Anterior up: body above the canal, the canal's contents inside it.
    assert body_rows.mean() < canal_rows.mean() < vertebra.bottom_row
    assert vertebra.canal[ids == ID["csf"]].mean() > 0.9
    assert Vertebra.find(np.zeros((8, 8), dtype=bool), (1.0, 1.0)) is None

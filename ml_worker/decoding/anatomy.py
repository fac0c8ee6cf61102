"""Typical craniocaudal extent of each class, in mm: the decoder's duration prior and the
yardstick of the length flags.

A class's range runs from the top of its vertebral body to the middle of the disc below
it, give or take where the disc is split, so its typical extent is body + disc. Figures are
the typical-adult reference anatomy of the architecture notes."""

import math

import numpy as np

from ml_worker.levels import INDEX, NUM_CLASSES


def _thoracic(i: int) -> tuple[float, float]:
    # Body T1 ≈ 16 mm rising to T12 ≈ 23 mm; discs 4 → 6 mm.
    f = (i - 1) / 11
    return 16.0 + 7.0 * f, 4.0 + 2.0 * f


def _lumbar(i: int) -> tuple[float, float]:
    # Body L1 ≈ 25 mm rising to L5 ≈ 28 mm; discs 10 → 12 mm (L5/S1 the thickest).
    f = (i - 1) / 4
    return 25.0 + 3.0 * f, 10.0 + 2.0 * f


def _table() -> tuple[np.ndarray, np.ndarray]:
    body = np.zeros(NUM_CLASSES)
    disc = np.zeros(NUM_CLASSES)
    body[INDEX["Cervical"]], disc[INDEX["Cervical"]] = 125.0, 5.0  # C1–C7 ≈ 120–140 mm
    for i in range(1, 13):
        body[INDEX[f"T{i}"]], disc[INDEX[f"T{i}"]] = _thoracic(i)
    for i in range(1, 6):
        body[INDEX[f"L{i}"]], disc[INDEX[f"L{i}"]] = _lumbar(i)
    body[INDEX["Sacral"]] = 100.0  # sacrum ≈ 100 mm, then coccyx and pelvis
    return body, disc


BODY_MM, DISC_MM = _table()
EXPECTED_MM = BODY_MM + DISC_MM

# Cervical and Sacral have no duration prior: nothing precedes Cervical or follows Sacral,
# so the skull, the coccyx or the edge of the field of view ends them, not anatomy.
BOUNDED = np.array([0 < k < NUM_CLASSES - 1 for k in range(NUM_CLASSES)])


def lognormal_logpmf(length_mm: np.ndarray, median_mm: float, sigma: float, bin_mm: float) -> np.ndarray:
    """log P(length) of a log-normal length, discretised to bins of one slice spacing."""
    x = np.log(length_mm)
    z = (x - math.log(median_mm)) / sigma
    return math.log(bin_mm / (sigma * math.sqrt(2 * math.pi))) - x - 0.5 * z * z


def lognormal_logsf(length_mm: np.ndarray, median_mm: float, sigma: float) -> np.ndarray:
    """log P(true length ≥ length): the score of a range cut by the field of view, which
    may be shorter than anatomy but not longer."""
    z = (np.log(np.asarray(length_mm, dtype=np.float64)) - math.log(median_mm)) / sigma
    return np.array([_log_norm_sf(float(v)) for v in z.ravel()]).reshape(z.shape)


def _log_norm_sf(z: float) -> float:
    if z < 8.0:
        return math.log(0.5 * math.erfc(z / math.sqrt(2)))
    # Mills-ratio asymptote, where erfc underflows.
    return -0.5 * z * z - math.log(z * math.sqrt(2 * math.pi))

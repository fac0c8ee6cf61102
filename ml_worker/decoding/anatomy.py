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


def length_score(length_mm: np.ndarray, typical_mm: float, sigma: float) -> np.ndarray:
    """Log-normal log density of a range's length relative to its peak at `typical_mm`: 0 at
    the typical length, negative either side. Scaled to its peak, not normalised, so every
    range costs the same at its typical length and a path gains nothing by having fewer
    ranges: skipping a level costs exactly the decoder's skip penalty."""
    x = np.log(length_mm)
    z = (x - _log_median(typical_mm, sigma)) / sigma
    return -0.5 * (z * z - sigma * sigma) - (x - math.log(typical_mm))


def lognormal_logsf(length_mm: np.ndarray, typical_mm: float, sigma: float) -> np.ndarray:
    """log P(true length ≥ length): the score of a range cut by the field of view, which
    may be shorter than anatomy but not longer."""
    z = (np.log(length_mm) - _log_median(typical_mm, sigma)) / sigma
    return log_erfc(z / math.sqrt(2)) - math.log(2)


def _log_median(typical_mm: float, sigma: float) -> float:
    # The mode of a log-normal is exp(mu - sigma²): put the mode on the typical length so
    # the prior does not pull every range shorter.
    return math.log(typical_mm) + sigma * sigma


def log_erfc(x: np.ndarray) -> np.ndarray:
    """log erfc(x), vectorised: Numerical Recipes' Chebyshev fit (relative error < 1.2e-7)
    evaluated in log space, so it never underflows."""
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.zeros_like(t)
    for c in _ERFC_COEFFS[::-1]:
        poly = c + t * poly
    log_pos = np.log(t) - z * z + poly  # log erfc(|x|)
    with np.errstate(over="ignore"):
        return np.where(x >= 0, log_pos, np.log(2.0 - np.exp(log_pos)))


_ERFC_COEFFS = (
    -1.26551223,
    1.00002368,
    0.37409196,
    0.09678418,
    -0.18628806,
    0.27886807,
    -1.13520398,
    1.48851587,
    -0.82215223,
    0.17087277,
)

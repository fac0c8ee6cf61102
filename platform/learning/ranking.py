"""The model-uncertainty part of the review-queue rank, free of Django so the
phantom loop benchmark (bench/learning/loop_phantom.py) ranks series with the
very function the platform's queue uses."""

from collections import defaultdict
from dataclasses import dataclass
from statistics import fmean


@dataclass(frozen=True)
class Uncertainty:
    mean_confidence: float
    min_confidence: float
    weakest_level: str | None
    weakest_level_confidence: float | None


def uncertainty_of(levels: list[str | None], confidence: list[float]) -> Uncertainty | None:
    """Mean and lowest slice confidence, and the level with the lowest mean."""
    if not confidence:
        return None
    per_level: dict[str, list[float]] = defaultdict(list)
    for level, value in zip(levels, confidence, strict=False):
        if level is not None:
            per_level[str(level)].append(float(value))
    weakest = min(per_level.items(), key=lambda kv: fmean(kv[1]), default=None)
    return Uncertainty(
        mean_confidence=round(fmean(float(c) for c in confidence), 4),
        min_confidence=round(min(float(c) for c in confidence), 4),
        weakest_level=weakest[0] if weakest else None,
        weakest_level_confidence=round(fmean(weakest[1]), 4) if weakest else None,
    )


def uncertainty_score(unc: Uncertainty | None) -> float:
    """The queue's uncertainty term: 1 - mean slice confidence (0 without a result)."""
    return 1 - unc.mean_confidence if unc else 0.0

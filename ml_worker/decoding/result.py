"""What decoding a series returns; every part turns into plain JSON with `to_dict()`."""

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ml_worker.levels import FINE_LEVELS

REVERSED = "reversed"
GAP = "gap"
UNORDERED = "unordered"
LOW_CONFIDENCE = "low_confidence"
IMPLAUSIBLE_LENGTH = "implausible_length"
SKIPPED_LEVEL = "skipped_level"
TRANSITIONAL_T13 = "transitional_T13"
TRANSITIONAL_L6 = "transitional_L6"
TRANSITIONAL_LUMBOSACRAL = "transitional_lumbosacral"


@dataclass(frozen=True)
class LevelRange:
    """One decoded level: slices first..last (indices into the series as given, first ≤
    last), the slice nearest the range's centre in mm, and how sure the decoder is."""

    level: str
    index: int
    first: int
    last: int
    mid: int
    start_mm: float  # position of slice `first`
    end_mm: float  # position of slice `last`
    length_mm: float  # extent along the body axis, one slice spacing included
    confidence: float  # mean posterior of this level over the range
    agreement: float  # fraction of the range's slices whose per-slice argmax is this level

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Flag:
    """Something a reviewer should know; `first`/`last` bound the slices concerned."""

    code: str
    message: str
    level: str | None = None
    first: int | None = None
    last: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SeriesDecoding:
    """Per-slice levels (indices into FINE_LEVELS, in the series' own slice order), their
    posterior marginals, the level ranges superior → inferior, and flags."""

    levels: np.ndarray  # [N] int
    marginals: np.ndarray  # [N, 19] posterior P(level of slice i = k)
    ranges: list[LevelRange]
    flags: list[Flag]
    reversed: bool  # the series ran inferior → superior and was decoded the other way
    log_score: float  # best path's log score in the direction decoded
    log_score_other_direction: float
    spacing_mm: float = field(default=0.0)

    @property
    def confidence(self) -> np.ndarray:
        """Posterior probability of the decoded level at each slice."""
        return self.marginals[np.arange(self.levels.size), self.levels]

    @property
    def level_names(self) -> list[str]:
        return [FINE_LEVELS[k] for k in self.levels]

    @property
    def flag_codes(self) -> set[str]:
        return {f.code for f in self.flags}

    def range_of(self, level: str) -> LevelRange | None:
        return next((r for r in self.ranges if r.level == level), None)

    def to_dict(self, *, include_marginals: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "levels": [FINE_LEVELS[k] for k in self.levels],
            "level_indices": [int(k) for k in self.levels],
            "confidence": [round(float(c), 4) for c in self.confidence],
            "ranges": [r.to_dict() for r in self.ranges],
            "flags": [f.to_dict() for f in self.flags],
            "reversed": self.reversed,
            "log_score": self.log_score,
            "log_score_other_direction": self.log_score_other_direction,
            "spacing_mm": self.spacing_mm,
        }
        if include_marginals:
            out["marginals"] = np.round(self.marginals, 4).tolist()
        return out

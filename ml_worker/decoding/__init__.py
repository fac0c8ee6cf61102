"""Sequence decoding of a whole series: per-slice level probabilities → contiguous,
anatomically ordered level ranges with confidences and flags (see `decode_series`)."""

from ml_worker.decoding.flags import FlagRules
from ml_worker.decoding.metrics import argmax_levels, slice_accuracy
from ml_worker.decoding.result import (
    GAP,
    IMPLAUSIBLE_LENGTH,
    LOW_CONFIDENCE,
    REVERSED,
    SKIPPED_LEVEL,
    TRANSITIONAL_L6,
    TRANSITIONAL_LUMBOSACRAL,
    TRANSITIONAL_T13,
    UNORDERED,
    Flag,
    LevelRange,
    SeriesDecoding,
)
from ml_worker.decoding.series import DecoderConfig, decode_series, emission_loglik

__all__ = [
    "GAP",
    "IMPLAUSIBLE_LENGTH",
    "LOW_CONFIDENCE",
    "REVERSED",
    "SKIPPED_LEVEL",
    "TRANSITIONAL_L6",
    "TRANSITIONAL_LUMBOSACRAL",
    "TRANSITIONAL_T13",
    "UNORDERED",
    "DecoderConfig",
    "Flag",
    "FlagRules",
    "LevelRange",
    "SeriesDecoding",
    "argmax_levels",
    "decode_series",
    "emission_loglik",
    "slice_accuracy",
]

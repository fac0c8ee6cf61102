"""Building blocks of the label tests: a classification result for a series,
a labeler of hospital A, and the label endpoints' URLs."""

import zlib
from typing import Any

import numpy as np

from analysis.models import SeriesLevels
from tests import factories
from tests.conftest import World


def classify(
    world: World,
    series: Any,
    levels: list[str | None],
    *,
    cams: np.ndarray | None = None,
    state: str = "succeeded",
) -> SeriesLevels:
    """A finished classification of `series` with per-slice `levels` (superior first)."""
    job = factories.JobFactory(
        project=world.project,
        institution=series.study.institution,
        series=series,
        job_type="classify_levels",
        state=state,
    )
    n = len(levels)
    return SeriesLevels.objects.create(
        job=job,
        series=series,
        model_name="tiny",
        model_version="7",
        slice_sop_instance_uids=[f"2.25.{100 + i}" for i in range(n)],
        slice_positions_mm=[float(-2 * i) for i in range(n)],
        slice_levels=levels,
        slice_confidence=[0.9] * n,
        ranges=[{"level": "L3", "start": 0, "end": n - 1, "mid": n // 2, "confidence": 0.9}],
        flags=[],
        cams=zlib.compress(cams.tobytes()) if cams is not None else b"",
        cam_shape=list(cams.shape) if cams is not None else [],
    )


def labeler(world: World, name: str = "labeler2_a", *roles: str) -> Any:
    """Another member of hospital A holding the labeler role (and `roles`)."""
    user = factories.UserFactory(username=name, institution=world.inst_a)
    for role in ("labeler", *roles):
        factories.MembershipFactory(project=world.project, user=user, role=role)
    return user


def url(series: Any, action: str = "") -> str:
    return f"/api/v1/series/{series.pk}/labels/{action + '/' if action else ''}"

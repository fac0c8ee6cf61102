"""Rule-based segmentation: published HU windows inside anatomical
compartments found by morphology, with no trained weights.

Steps on one axial slice in standard orientation (anterior up, patient right
on image left; `to_standard_orientation` in ml_worker.preprocess):

1. Body: the largest component above -500 HU (drops the table and cables),
   holes filled (lungs, bowel gas). The outer `skin_mm` is skin, never muscle.
2. Fascia: the dense tissue (>= -29 HU) closed over `wall_gap_mm` and filled.
   That bridges small defects of the muscle wall (linea alba, umbilicus), so
   fat outside it is subcutaneous and fat inside it is not.
3. Muscle compartment: muscle-HU tissue, closed over `imat_gap_mm` so the
   layers of the wall join across the fat planes between them, that reaches
   the fascia (abdominal and chest wall, back muscles), plus the components
   inside the cavity that lie beside the vertebra (psoas, quadratus
   lumborum, crura); enclosed holes up to `max_imat_hole_mm2` filled.
4. Tissues: skeletal muscle = muscle HU in the compartment; IMAT = fat HU
   there; SAT = fat HU outside the fascia; VAT = visceral-fat HU inside the
   fascia but outside the compartment. Components smaller than
   `min_component_mm2` are dropped (noise, partial volume).

Known limit (bench/bodycomp and tests/ml_worker/test_bodycomp_threshold.py
measure it): an organ touching a muscle with no fat between them (kidney on
psoas or quadratus, liver on the wall at T11-T12) joins the muscle, so muscle
area runs high there; subcutaneous and visceral fat are not affected. The
network segmenter learns those boundaries from verified masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ml_worker.bodycomp import morphology as mm
from ml_worker.bodycomp.tissues import FAT_HU, MUSCLE_HU, VAT_HU, TissueMasks, in_window

BODY_HU = -500.0
BONE_HU = 150.0
# Deep muscles touch the vertebra from the side: their centre lies at least
# this far off the vertebra's midline (aorta in front, canal contents behind).
MIN_LATERAL_MM = 10.0


@dataclass(frozen=True)
class ThresholdSegmenter:
    """HU thresholds plus morphology; sizes in mm so they hold at any pixel size."""

    skin_mm: float = 0.0
    wall_gap_mm: float = 6.0
    imat_gap_mm: float = 2.0
    max_imat_hole_mm2: float = 400.0
    spine_reach_mm: float = 3.0
    min_component_mm2: float = 4.0
    name: str = "threshold"
    version: str = "1"

    def segment(self, hu: np.ndarray, spacing_mm: tuple[float, float]) -> TissueMasks:
        hu = np.asarray(hu, dtype=np.float32)
        if hu.ndim != 2:
            raise ValueError(f"expected one 2-D slice, got shape {hu.shape}")
        spacing = (float(spacing_mm[0]), float(spacing_mm[1]))
        body = body_mask(hu)
        if not body.any():
            return TissueMasks.empty(hu.shape)
        fat = body & in_window(hu, FAT_HU)
        soft = body & in_window(hu, MUSCLE_HU)
        bone = body & (hu > BONE_HU)
        dense = soft | bone
        if self.skin_mm > 0:
            dense &= mm.erode(body, self.skin_mm, spacing)
        inner = mm.largest_component(mm.fill_holes(mm.close(dense, self.wall_gap_mm, spacing)))
        inner &= body
        zone = self._muscle_zone(inner, soft & dense, bone, spacing)
        min_px = self.min_component_mm2 / (spacing[0] * spacing[1])
        muscle = mm.remove_small_components(zone & soft, min_px)
        return TissueMasks(
            muscle=muscle,
            imat=zone & fat & ~muscle,
            sat=mm.remove_small_components(fat & ~inner, min_px),
            vat=mm.remove_small_components(inner & ~zone & in_window(hu, VAT_HU), min_px),
        )

    def _muscle_zone(
        self, inner: np.ndarray, soft: np.ndarray, bone: np.ndarray, spacing: tuple[float, float]
    ) -> np.ndarray:
        candidates = mm.close(inner & soft, self.imat_gap_mm, spacing) & inner & ~bone
        fascia = inner & ~ndi.binary_erosion(inner, iterations=1, border_value=0)
        wall = mm.components_touching(candidates, fascia)
        deep = _beside_spine(candidates & ~wall, bone, self.spine_reach_mm, spacing)
        max_hole_px = self.max_imat_hole_mm2 / (spacing[0] * spacing[1])
        return mm.fill_small_holes(wall | deep, max_hole_px) & ~bone


def body_mask(hu: np.ndarray) -> np.ndarray:
    """The patient: largest component above -500 HU, holes (lungs, gas) filled."""
    return mm.fill_holes(mm.largest_component(np.asarray(hu) > BODY_HU))


def _beside_spine(
    candidates: np.ndarray, bone: np.ndarray, reach_mm: float, spacing: tuple[float, float]
) -> np.ndarray:
    """Components touching the vertebra (the largest bone component) whose
    centre lies level with it and off its midline."""
    spine = mm.largest_component(bone)
    if not spine.any():
        return np.zeros_like(candidates)
    touching = mm.components_touching(candidates, mm.dilate(spine, reach_mm, spacing))
    labels, count = ndi.label(touching, structure=np.ones((3, 3), bool))
    if count == 0:
        return touching
    rows, cols = np.nonzero(spine)
    grid_rows, grid_cols = np.indices(labels.shape)
    sizes = np.bincount(labels.ravel(), minlength=count + 1).astype(float)
    sizes[0] = 1.0
    centre_rows = np.bincount(labels.ravel(), grid_rows.ravel(), count + 1) / sizes
    centre_cols = np.bincount(labels.ravel(), grid_cols.ravel(), count + 1) / sizes
    lateral_mm = np.abs(centre_cols - cols.mean()) * spacing[1]
    keep = (centre_rows >= rows.min()) & (centre_rows <= rows.max()) & (lateral_mm > MIN_LATERAL_MM)
    keep[0] = False
    return keep[labels]

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
   layers of the wall join across the fat planes between them, with the
   vertebral canal taken out. Parts thicker than `organ_radius_mm` (an
   opening) are organs or big deep muscles: only the back muscles (behind the
   transverse processes) and psoas (beside the vertebral body, below
   `max_psoas_cm2`) stay. The thin rest is the wall where it reaches the
   fascia, plus thin deep muscles beside the vertebral body (crura, a small
   psoas); enclosed holes up to `max_imat_hole_mm2` are filled.
4. Tissues: skeletal muscle = muscle HU in the compartment; IMAT = fat HU
   there; SAT = fat HU outside the fascia; VAT = visceral-fat HU inside the
   fascia but outside the compartment. Components smaller than
   `min_component_mm2` are dropped (noise, partial volume).

Known limit (bench/bodycomp measures it): an organ that touches a muscle
along a broad front with no fat between them, and is no thicker than the
muscle (the lower pole of a kidney on quadratus lumborum, the liver edge on
the wall), is not told apart from it by HU or shape, so muscle area runs
high there; subcutaneous and visceral fat are not affected. The network
segmenter learns those boundaries from verified masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ml_worker.bodycomp import morphology as mm
from ml_worker.bodycomp.tissues import FAT_HU, MUSCLE_HU, VAT_HU, TissueMasks, in_window
from ml_worker.bodycomp.vertebra import Vertebra

BODY_HU = -500.0
BONE_HU = 150.0
# Deep muscles touch the vertebra from the side: their centre lies at least
# this far off the vertebra's midline (aorta in front, canal contents behind).
MIN_LATERAL_MM = 10.0
_SQUARE = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class ThresholdSegmenter:
    """HU thresholds plus morphology; sizes in mm so they hold at any pixel size."""

    skin_mm: float = 0.0
    wall_gap_mm: float = 6.0
    imat_gap_mm: float = 2.0
    max_imat_hole_mm2: float = 400.0
    spine_reach_mm: float = 3.0
    min_component_mm2: float = 4.0
    organ_radius_mm: float = 15.0
    max_psoas_cm2: float = 40.0
    name: str = "threshold"
    version: str = "2"

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
        vertebra = Vertebra.find(bone, spacing)
        if vertebra is not None:
            candidates &= ~vertebra.canal
        thick = mm.opening(candidates, self.organ_radius_mm, spacing)
        deep_thick = self._thick_muscles(thick, vertebra, spacing)
        # Drop a thin seam around each organ too: the opening leaves its rim.
        thin = candidates & ~thick & ~mm.dilate(thick & ~deep_thick, 1.0, spacing)
        fascia = inner & ~ndi.binary_erosion(inner, iterations=1, border_value=0)
        wall = mm.components_touching(thin, fascia)
        zone = deep_thick | wall
        if vertebra is not None:
            zone |= self._beside_body(thin & ~wall, vertebra, spacing, max_area_px=np.inf)
        max_hole_px = self.max_imat_hole_mm2 / (spacing[0] * spacing[1])
        return mm.fill_small_holes(zone, max_hole_px) & ~bone

    def _thick_muscles(
        self, thick: np.ndarray, vertebra: Vertebra | None, spacing: tuple[float, float]
    ) -> np.ndarray:
        """Back muscles and psoas among the thick parts; organs are the rest."""
        if vertebra is None:
            return np.zeros_like(thick)
        labels, count = ndi.label(thick, structure=_SQUARE)
        _, centre_rows, _ = mm.component_centres(labels, count)
        back = centre_rows > vertebra.tp_row
        back[0] = False
        max_psoas_px = self.max_psoas_cm2 * 100.0 / (spacing[0] * spacing[1])
        psoas = self._beside_body(thick, vertebra, spacing, max_area_px=max_psoas_px)
        return back[labels] | psoas

    def _beside_body(
        self,
        candidates: np.ndarray,
        vertebra: Vertebra,
        spacing: tuple[float, float],
        max_area_px: float,
    ) -> np.ndarray:
        """Components touching the vertebral body whose centre lies level with
        the vertebra and off its midline (aorta in front, canal behind)."""
        near = mm.dilate(vertebra.body, self.spine_reach_mm, spacing)
        labels, count = ndi.label(candidates, structure=_SQUARE)
        if count == 0:
            return np.zeros_like(candidates)
        touching = np.zeros(count + 1, dtype=bool)
        touching[np.unique(labels[near & candidates])] = True
        sizes, centre_rows, centre_cols = mm.component_centres(labels, count)
        lateral_mm = np.abs(centre_cols - vertebra.midline_col) * spacing[1]
        keep = (
            touching
            & (centre_rows >= vertebra.top_row)
            & (centre_rows <= vertebra.bottom_row)
            & (lateral_mm > MIN_LATERAL_MM)
            & (sizes <= max_area_px)
        )
        keep[0] = False
        return keep[labels]


def body_mask(hu: np.ndarray) -> np.ndarray:
    """The patient: largest component above -500 HU, holes (lungs, gas) filled."""
    return mm.fill_holes(mm.largest_component(np.asarray(hu) > BODY_HU))

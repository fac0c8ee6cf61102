"""The vertebra on an axial slice, as landmarks for the deep muscles: its
body (where psoas and the crura attach), its canal (cord and CSF are never
muscle) and the line of its transverse processes (the back muscles lie
behind it, kidneys and bowel in front of it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml_worker.bodycomp import morphology as mm

# The canal is closed by the arch; gaps between arch pieces up to this size
# (pedicle to lamina on a slice through the foramina) still count as closed.
CANAL_CLOSE_MM = 6.0
# Rows this far in front of the transverse-process line belong to the body.
BODY_MARGIN_MM = 4.0


@dataclass(frozen=True)
class Vertebra:
    mask: np.ndarray
    body: np.ndarray  # the vertebra in front of the transverse processes
    canal: np.ndarray
    top_row: int  # anterior edge (standard orientation: anterior up)
    bottom_row: int
    tp_row: int  # the widest row: transverse processes (or rib heads)
    midline_col: float

    @classmethod
    def find(cls, bone: np.ndarray, spacing: mm.Spacing) -> Vertebra | None:
        """The largest bone component, taken as the vertebra; None without bone."""
        mask = mm.largest_component(bone)
        rows, cols = np.nonzero(mask)
        if rows.size == 0:
            return None
        tp_row = int(np.argmax(np.bincount(rows)))
        front_rows = np.arange(mask.shape[0])[:, None] < tp_row - BODY_MARGIN_MM / spacing[0]
        canal = mm.fill_holes(mm.close(mask, CANAL_CLOSE_MM, spacing)) & ~mask
        return cls(
            mask=mask,
            body=mask & front_rows,
            canal=canal,
            top_row=int(rows.min()),
            bottom_row=int(rows.max()),
            tp_row=tp_row,
            midline_col=float(cols.mean()),
        )

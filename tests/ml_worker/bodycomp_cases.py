"""Phantom slices with exact tissue masks, written as DICOM, for the
body-composition tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from ml_worker.bodycomp.tissues import HU_WINDOWS, Tissue, TissueMasks, in_window
from ml_worker.synthetic import (
    COMPARTMENTS,
    CTVolume,
    make_anatomy,
    make_patient,
    render_slice,
    write_ct_series,
)
from ml_worker.synthetic import Tissue as PhantomTissue


@dataclass
class PhantomSlices:
    datasets: list[Dataset]
    hu: np.ndarray  # int16 [n, rows, cols]
    tissues: np.ndarray  # phantom Tissue codes
    spacing_mm: float
    levels: list[str]


def phantom_slices(
    tmp: Path, *, seed: int = 3, levels: tuple[str, ...] = ("L3", "L3", "L3"), size: int = 160,
    patient_index: int = 1,
) -> PhantomSlices:  # fmt: skip
    """Slices through the given levels (repeats step 3 mm inferiorly), as DICOM."""
    anatomy = make_anatomy(seed)
    rng = np.random.default_rng(seed)
    spacing = 400.0 / size
    positions: list[float] = []
    for index, level in enumerate(levels):
        if index and level == levels[index - 1]:
            positions.append(positions[-1] - 3.0)
        else:
            top, bottom = anatomy.body_range(level)
            positions.append((top + bottom) / 2)
    hus, tissues = [], []
    for z in positions:
        hu, tissue = render_slice(
            anatomy, z, rows=size, cols=size, pixel_spacing_mm=spacing, rng=rng
        )
        hus.append(hu)
        tissues.append(tissue)
    volume = CTVolume(np.stack(hus), (spacing, spacing), 3.0, np.array(positions))
    paths = write_ct_series(volume, tmp, patient=make_patient(patient_index))
    datasets = [pydicom.dcmread(p) for p in paths]
    return PhantomSlices(datasets, volume.hu, np.stack(tissues), spacing, list(levels))


def truth_masks(tissues: np.ndarray) -> TissueMasks:
    return TissueMasks(
        muscle=tissues == PhantomTissue.MUSCLE,
        imat=tissues == PhantomTissue.IMAT,
        sat=tissues == PhantomTissue.SAT,
        vat=tissues == PhantomTissue.VAT,
    )


class CompartmentSegmenter:
    """The published HU windows applied inside the phantom's true compartments:
    the thresholding half of segmentation, with the anatomy known. Keyed by the
    HU array's bytes so the pipeline can call it with nothing but HU."""

    name = "phantom-compartments"
    version = "test"

    def __init__(self, cases: PhantomSlices) -> None:
        self.by_hu = {cases.hu[i].astype(np.float32).tobytes(): cases.tissues[i]
                      for i in range(len(cases.hu))}  # fmt: skip

    def segment(self, hu: np.ndarray, spacing_mm: tuple[float, float]) -> TissueMasks:
        tissues = self.by_hu[np.asarray(hu, dtype=np.float32).tobytes()]

        def inside(name: str) -> np.ndarray:
            return np.isin(tissues, [int(t) for t in COMPARTMENTS[name]])

        return TissueMasks(
            muscle=inside("muscle") & in_window(hu, HU_WINDOWS[Tissue.MUSCLE]),
            imat=inside("muscle") & in_window(hu, HU_WINDOWS[Tissue.IMAT]),
            sat=inside("subcutaneous") & in_window(hu, HU_WINDOWS[Tissue.SAT]),
            vat=inside("visceral") & in_window(hu, HU_WINDOWS[Tissue.VAT]),
        )

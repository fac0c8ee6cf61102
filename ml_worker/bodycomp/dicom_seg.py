"""Tissue masks as a binary DICOM Segmentation (highdicom), one segment per
tissue, referencing the CT slices it was computed on.

Segment codes (category SCT 85756007 "Tissue" for all four):

| # | label | property type | anatomic region |
|---|---|---|---|
| 1 | Skeletal muscle | SCT 127954009 Skeletal muscle | - |
| 2 | Intermuscular adipose tissue | SCT 55603005 Fat | SCT 127954009 Skeletal muscle |
| 3 | Subcutaneous adipose tissue | SCT 55603005 Fat | SCT 71966008 Subcutaneous tissue |
| 4 | Visceral adipose tissue | SCT 55603005 Fat | SCT 91806002 Body cavity |

SNOMED CT has no concept for these three fat compartments that we could
verify, so each is the adipose-tissue concept of DICOM CID 7166 located by an
anatomic region, the segment label naming it; the Tracking ID repeats the
tissue key ("muscle", "imat", "sat", "vat") for software.

Segment numbers equal `Tissue` values and the label-map values of the job
result. Frames hold the segmented slices in the order given; empty frames are
left out, so read frames through `segment_frames`, not by arithmetic."""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from ml_worker.bodycomp.tissues import TISSUE_NAMES, TISSUES, Tissue, TissueMasks

TISSUE_CATEGORY = codes.SCT.Tissue  # 85756007
_FAT = Code("55603005", "SCT", "Fat")
SEGMENT_CODES: dict[Tissue, tuple[Code, Code | None]] = {
    Tissue.MUSCLE: (codes.SCT.SkeletalMuscle, None),
    Tissue.IMAT: (_FAT, codes.SCT.SkeletalMuscle),
    Tissue.SAT: (_FAT, codes.SCT.SubcutaneousTissue),
    Tissue.VAT: (_FAT, codes.SCT.BodyCavity),
}
# Display colours (CIELab), the usual body-composition palette: red, green, yellow, cyan.
_COLOURS = {
    Tissue.MUSCLE: (53.2, 80.1, 67.2),
    Tissue.IMAT: (87.7, -86.2, 83.2),
    Tissue.SAT: (97.1, -21.6, 94.5),
    Tissue.VAT: (91.1, -48.1, -14.1),
}


def build_tissue_seg(
    source_images: Sequence[Dataset],
    masks: Sequence[TissueMasks],
    *,
    algorithm_name: str,
    algorithm_version: str,
    trained: bool,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    series_number: int = 991,
    manufacturer: str = "sarcopenia-platform",
    corrected: bool = False,
) -> hd.seg.Segmentation:
    """One SEG over `source_images` (one series; masks in their stored grid).
    Raises ValueError when every mask is empty: there is nothing to store."""
    if len(source_images) != len(masks) or not masks:
        raise ValueError("need one TissueMasks per source image")
    stack = np.stack([np.stack([m.get(t) for t in TISSUES], axis=-1) for m in masks])
    if not stack.any():
        raise ValueError("every mask is empty")
    families = codes.cid7162
    family = families.ArtificialIntelligence if trained else families.MorphologicalOperations
    algorithm = hd.AlgorithmIdentificationSequence(
        name=algorithm_name, family=family, version=algorithm_version
    )
    series_uid = str(source_images[0].SeriesInstanceUID)
    # Masks a person corrected in the viewer are semi-automatic, not automatic.
    kind = hd.seg.SegmentAlgorithmTypeValues
    algorithm_type = kind.SEMIAUTOMATIC if corrected else kind.AUTOMATIC
    descriptions = [_segment(t, algorithm, series_uid, algorithm_type) for t in TISSUES]
    return hd.seg.Segmentation(
        source_images=list(source_images),
        pixel_array=stack.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_instance_uid or generate_uid(),
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name=algorithm_name,
        software_versions=algorithm_version,
        device_serial_number="none",
        content_label="BODYCOMP",
        content_description="Skeletal muscle and adipose tissue",
        series_description="Body composition segmentation",
    )


def _segment(
    tissue: Tissue,
    algorithm: hd.AlgorithmIdentificationSequence,
    series_uid: str,
    algorithm_type: hd.seg.SegmentAlgorithmTypeValues = hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
) -> hd.seg.SegmentDescription:
    property_type, region = SEGMENT_CODES[tissue]
    return hd.seg.SegmentDescription(
        segment_number=int(tissue),
        segment_label=TISSUE_NAMES[tissue],
        segmented_property_category=TISSUE_CATEGORY,
        segmented_property_type=property_type,
        algorithm_type=algorithm_type,
        algorithm_identification=algorithm,
        tracking_id=tissue.key,
        # Stable per series and tissue, like the level SR's tracking UIDs.
        tracking_uid=generate_uid(entropy_srcs=["bodycomp-tissue", series_uid, tissue.key]),
        anatomic_regions=[region] if region is not None else None,
        display_color=hd.color.CIELabColor(*_COLOURS[tissue]),
    )


def segment_frames(seg: Dataset) -> dict[tuple[int, str], int]:
    """(segment number, source SOP Instance UID) -> 1-based frame number."""
    frames: dict[tuple[int, str], int] = {}
    for number, item in enumerate(seg.PerFrameFunctionalGroupsSequence, start=1):
        segment = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        source = item.DerivationImageSequence[0].SourceImageSequence[0]
        frames[(segment, str(source.ReferencedSOPInstanceUID))] = number
    return frames


def read_tissue_seg(seg: Dataset) -> dict[str, TissueMasks]:
    """Masks per source SOP Instance UID from a SEG written by `build_tissue_seg`."""
    parsed = hd.seg.Segmentation.from_dataset(seg)
    rows, cols = int(parsed.Rows), int(parsed.Columns)
    pixels = parsed.pixel_array.reshape(-1, rows, cols)
    out: dict[str, dict[str, np.ndarray]] = {}
    for (segment, sop_uid), frame in segment_frames(parsed).items():
        planes = out.setdefault(sop_uid, {t.key: np.zeros((rows, cols), bool) for t in TISSUES})
        planes[Tissue(segment).key] = pixels[frame - 1].astype(bool)
    return {uid: TissueMasks(**planes) for uid, planes in out.items()}

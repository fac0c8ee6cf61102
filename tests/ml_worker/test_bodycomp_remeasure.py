"""Re-measurement from corrected masks (ml_worker.bodycomp.remeasure), pure:
phantom slices with their exact tissue masks give the exact areas and mean
HU; a slice without a mask is an empty one; bad masks and missing slices are
clear errors; the corrected SEG says it is semi-automatic."""

import base64
import zlib
from pathlib import Path

import numpy as np
import pytest

from ml_worker.bodycomp.dicom_seg import read_tissue_seg
from ml_worker.bodycomp.remeasure import RemeasureError, remeasure_level
from tests.ml_worker.bodycomp_cases import PhantomSlices, phantom_slices


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> PhantomSlices:
    return phantom_slices(tmp_path_factory.mktemp("remeasure"), levels=("L3", "L3"), size=96)


def _mask(uid: str, labels: np.ndarray) -> dict[str, object]:
    data = base64.b64encode(zlib.compress(np.ascontiguousarray(labels, np.uint8).tobytes()))
    return {"sop_instance_uid": uid, "shape": list(labels.shape), "data": data.decode()}


def _parameters(cases: PhantomSlices, masks: list[dict[str, object]]) -> dict[str, object]:
    return {
        "measurement": 7, "revision": 2, "level": "L3",
        "sop_instance_uids": [str(ds.SOPInstanceUID) for ds in cases.datasets],
        "masks": masks, "patient": {"height_m": 1.6, "weight_kg": 60, "sex": "F"},
        "model": {"method": "threshold", "name": "bodycomp-threshold", "version": "1"},
    }  # fmt: skip


def test_exact_areas_from_the_corrected_masks(cases: PhantomSlices, tmp_path: Path) -> None:
    truth = np.where(cases.tissues <= 4, cases.tissues, 0).astype(np.uint8)
    uids = [str(ds.SOPInstanceUID) for ds in cases.datasets]
    result, seg, sr = remeasure_level(
        cases.datasets, _parameters(cases, [_mask(u, t) for u, t in zip(uids, truth, strict=True)])
    )
    level = result["level"]
    cm2 = cases.spacing_mm**2 / 100
    assert (result["revision"], level["status"], level["n_slices_used"]) == (2, "ok", 2)
    assert level["muscle_area_cm2"] == pytest.approx((truth == 1).sum() / 2 * cm2, rel=1e-4)
    assert level["vat_area_cm2"] == pytest.approx((truth == 4).sum() / 2 * cm2, rel=1e-4)
    assert level["muscle_density_hu"] == pytest.approx(cases.hu[truth == 1].mean(), abs=0.01)
    assert level["smi_cm2_m2"] == pytest.approx(level["muscle_area_cm2"] / 1.6**2, abs=1e-2)
    assert seg is not None and sr is not None
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    assert "1+r2" in seg.SoftwareVersions
    assert (read_tissue_seg(seg)[uids[0]].label_map() == truth[0]).all()
    assert result["seg"]["sop_instance_uid"] == str(seg.SOPInstanceUID)


def test_a_slice_without_mask_is_empty_and_bad_masks_are_refused(cases: PhantomSlices) -> None:
    uid = str(cases.datasets[0].SOPInstanceUID)
    result, seg, _ = remeasure_level(cases.datasets, _parameters(cases, []))
    assert result["level"]["status"] == "no_valid_slice" and seg is None
    assert [s["status"] for s in result["level"]["slices"]] == ["empty_mask", "empty_mask"]
    with pytest.raises(RemeasureError, match="wrong shape"):
        remeasure_level(cases.datasets, _parameters(cases, [_mask(uid, np.zeros((4, 4)))]))
    with pytest.raises(RemeasureError, match="not in the series"):
        remeasure_level(cases.datasets[:1], _parameters(cases, []))

"""Corrected masks measured again on the real stack: phantom CT slices in
Orthanc, a labeler's correction through the API, the re-measurement job run by
a real `gpu` worker over DICOMweb and stored by a real `default` worker; then
review, and the verified masks exported as training data that the network's
data loader reads back."""

import base64
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command

from analysis.models import BodyCompositionMeasurement
from imaging.dicomweb import image_store as platform_store
from ml_worker.bodycomp.data import SegDataset, manifest_samples
from ml_worker.bodycomp.dicom_seg import read_tissue_seg
from tests import factories
from tests.conftest import World, client_for
from tests.integration.conftest import Workers, wait_for
from tests.ml_worker.bodycomp_cases import PhantomSlices, phantom_slices

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _encoded(labels: np.ndarray) -> str:
    return base64.b64encode(
        zlib.compress(np.ascontiguousarray(labels, np.uint8).tobytes())
    ).decode()


def _measured_row(world: World, cases: PhantomSlices) -> BodyCompositionMeasurement:
    """A stored L3 row of the phantom series whose model masks are empty."""
    first = cases.datasets[0]
    study = factories.StudyFactory(
        project=world.project,
        institution=world.inst_a,
        study_instance_uid=str(first.StudyInstanceUID),
    )
    series = factories.SeriesFactory(study=study, series_instance_uid=str(first.SeriesInstanceUID))
    job = factories.JobFactory(
        project=world.project,
        institution=world.inst_a,
        series=series,
        job_type="measure_body_composition",
        state="succeeded",
    )
    uids = [str(ds.SOPInstanceUID) for ds in cases.datasets]
    empty = _encoded(np.zeros(cases.hu.shape[1:], np.uint8))
    return BodyCompositionMeasurement.objects.create(
        job=job,
        series=series,
        level="L3",
        status="no_valid_slice",
        n_slices=len(uids),
        method="threshold",
        model_name="bodycomp-threshold",
        model_version="1",
        height_m=1.7,
        weight_kg=70.0,
        sex="F",
        slices=[{"sop_instance_uid": u, "status": "empty_mask"} for u in uids],
        masks=[
            {"sop_instance_uid": u, "shape": list(cases.hu.shape[1:]), "data": empty} for u in uids
        ],
    )


def test_correction_is_measured_again_reviewed_and_exported_for_training(
    world: World, image_store: Any, workers: Workers, tmp_path: Path
) -> None:
    cases = phantom_slices(tmp_path / "ct", levels=("L3", "L3"), size=96)
    assert not platform_store().store(cases.datasets).failed
    row = _measured_row(world, cases)
    truth = np.where(cases.tissues <= 4, cases.tissues, 0).astype(np.uint8)
    slices = [
        {"sop_instance_uid": str(ds.SOPInstanceUID), "shape": list(t.shape), "data": _encoded(t)}
        for ds, t in zip(cases.datasets, truth, strict=True)
    ]
    labeler = client_for(world.users["labeler"])
    response = labeler.post(
        f"/api/v1/measurements/{row.pk}/masks/",
        {"base_revision": 0, "slices": slices},
        format="json",
    )
    assert response.status_code == 200, response.content
    job = wait_for(response.json()["remeasure"]["job"], {"succeeded", "failed"}, timeout=120)
    assert job.state == "succeeded", (job.error, workers.log("gpu")[-3000:])
    row.refresh_from_db()
    cm2 = cases.spacing_mm**2 / 100
    muscle = float(np.mean([(t == 1).sum() * cm2 for t in truth]))
    density = float(cases.hu[truth == 1].mean())
    assert (row.status, row.measured_revision, row.mask_source) == ("ok", 1, "corrected")
    assert row.muscle_area_cm2 == pytest.approx(muscle, rel=1e-3)
    assert row.sat_area_cm2 == pytest.approx(
        np.mean([(t == 3).sum() * cm2 for t in truth]), rel=1e-3
    )
    assert row.muscle_density_hu == pytest.approx(density, abs=0.05)
    assert row.smi_cm2_m2 == pytest.approx(row.muscle_area_cm2 / 1.7**2, abs=1e-2)
    assert [s["status"] for s in row.slices] == ["ok", "ok"]
    # The corrected masks' own SEG (semi-automatic) and SR are in the image store.
    client = platform_store().client
    seg = client.retrieve_instance(
        row.series.study.study_instance_uid, row.seg_series_instance_uid, row.seg_sop_instance_uid
    )
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    stored = read_tissue_seg(seg)
    for item, labels in zip(slices, truth, strict=True):
        assert (stored[item["sop_instance_uid"]].label_map() == labels).all()
    assert row.sr_sop_instance_uid and row.sr_sop_instance_uid != row.seg_sop_instance_uid

    # Review, then the verified masks become training data the loader reads.
    base = f"/api/v1/measurements/{row.pk}/masks/"
    assert labeler.post(base + "submit/", {}, format="json").status_code == 200
    verify = client_for(world.users["reviewer"]).post(
        base + "review/", {"decision": "verify"}, format="json"
    )
    assert verify.status_code == 200, verify.content
    out = tmp_path / "training"
    call_command(
        "export_mask_training", project=world.project.slug, user="project_admin_a", out=out
    )
    samples = manifest_samples(out / "manifest.csv")
    assert len(samples) == 2 and {s.level for s in samples} == {"L3"}
    assert sorted(int((s.labels == 1).sum()) for s in samples) == sorted(
        int((t == 1).sum()) for t in truth
    )
    x, y = SegDataset(samples, 64)[0]
    assert x.shape[-2:] == (64, 64) and int(y.max()) <= 4

    # An empty correction keeps its status: every slice empty_mask, no values.
    undo = labeler.post(base + "undo/", {"base_revision": 1}, format="json")
    assert undo.status_code == 423  # verified masks are locked
    client_for(world.users["reviewer"]).post(
        base + "review/", {"decision": "return", "comment": "redo"}, format="json"
    )
    undo = labeler.post(base + "undo/", {"base_revision": 1}, format="json")
    job = wait_for(undo.json()["remeasure"]["job"], {"succeeded", "failed"}, timeout=120)
    assert job.state == "succeeded", job.error
    row.refresh_from_db()
    assert row.status == "no_valid_slice" and row.muscle_area_cm2 is None
    assert row.seg_sop_instance_uid == ""  # nothing measured: no SEG for empty masks
    assert [s["status"] for s in row.slices] == ["empty_mask", "empty_mask"]

"""Body composition as a worker job, end to end without the platform: phantom
CT slices in a real Orthanc, the task sent by name to a real `gpu` worker,
its reports read from the `default` queue, and the DICOM SEG and SR it stored
read back from Orthanc and parsed with highdicom."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import highdicom as hd
import pydicom
import pytest
import redis
from celery import Celery
from dicomweb_client import DICOMwebClient
from django.conf import settings

from ml_worker.bodycomp.codec import decode_masks
from ml_worker.bodycomp.dicom_seg import read_tissue_seg
from ml_worker.bodycomp.dicom_sr import read_bodycomp_sr
from ml_worker.bodycomp.model_store import register_seg_model
from ml_worker.bodycomp.network import PRESETS, build_unet, save_seg_checkpoint
from tests.integration.conftest import ROOT, start_worker, stop
from tests.ml_worker.bodycomp_cases import PhantomSlices, phantom_slices

pytestmark = pytest.mark.integration
TASK = "ml_worker.measure_body_composition"


@dataclass
class Setup:
    cases: PhantomSlices
    client: DICOMwebClient
    broker: redis.Redis


@pytest.fixture(scope="module")
def setup(orthanc_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """Phantom CT in Orthanc and one real ml_worker on the `gpu` queue of the
    tests' own Redis database, with an untrained tiny network registered (the
    plumbing is under test here). One worker for the module: it starts slowly."""
    tmp = tmp_path_factory.mktemp("bodycomp_job")
    cases = phantom_slices(tmp / "ct", levels=("L1", "L3", "L3", "L3"), size=128)
    client = DICOMwebClient(orthanc_server.dicomweb_url, session=orthanc_server.session())
    client.store_instances([pydicom.dcmread(p) for p in sorted((tmp / "ct").iterdir())])
    checkpoint = save_seg_checkpoint(tmp / "tiny.pt", build_unet(PRESETS["tiny"]), PRESETS["tiny"])
    register_seg_model(tmp / "models", checkpoint, metrics={"note": "untrained"})
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()
    username, password = orthanc_server.auth
    # No DJANGO_SETTINGS_MODULE: Celery's Django fixup must not load the platform.
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "DICOMWEB_URL": orthanc_server.dicomweb_url,
        "DICOMWEB_USERNAME": username,
        "DICOMWEB_PASSWORD": password,
        "MODEL_REGISTRY_DIR": str(tmp / "models"),
    }
    proc = start_worker("ml_worker.celery_app", "gpu", env, tmp / "gpu.log")
    yield Setup(cases, client, broker)
    stop(proc)
    session = orthanc_server.session()
    for orthanc_id in session.get(f"{orthanc_server.url}/studies", timeout=30).json():
        session.delete(f"{orthanc_server.url}/studies/{orthanc_id}", timeout=30)


def _send(job_id: int, parameters: dict[str, Any], target: dict[str, str]) -> None:
    sender = Celery(broker=settings.CELERY_BROKER_URL, set_as_current=False)
    sender.send_task(TASK, kwargs={"job_id": job_id, "parameters": parameters, "target": target},
                     queue="gpu")  # fmt: skip


def _reports(broker: redis.Redis, job_id: int, timeout: float = 120) -> list[dict[str, Any]]:
    """The worker's `analysis.job_report` messages for one job, up to its last."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        popped = broker.brpop(["default"], timeout=1)
        if popped is None:
            continue
        envelope = json.loads(popped[1])
        assert envelope["headers"]["task"] == "analysis.job_report"
        _, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        if kwargs["job_id"] == job_id:
            seen.append(kwargs)
            if kwargs["state"] in ("succeeded", "failed"):
                return seen
    raise AssertionError(f"job {job_id} did not finish: {seen[-1:]}")


def _request(cases: PhantomSlices, method: str) -> tuple[dict[str, Any], dict[str, str]]:
    uids = [str(ds.SOPInstanceUID) for ds in cases.datasets]
    target = {"study_instance_uid": str(cases.datasets[0].StudyInstanceUID),
              "series_instance_uid": str(cases.datasets[0].SeriesInstanceUID)}  # fmt: skip
    parameters = {
        "levels": [{"level": "L3", "sop_instance_uids": uids[1:]},
                   {"level": "L1", "sop_instance_uids": uids[:1]}],
        "method": method,
        "patient": {"height_m": 1.72},
    }  # fmt: skip
    return parameters, target


def test_threshold_job_stores_seg_and_sr_in_orthanc(setup: Setup) -> None:
    cases, client, gpu_worker = setup.cases, setup.client, setup.broker
    parameters, target = _request(cases, "threshold")
    _send(101, parameters, target)
    reports = _reports(gpu_worker, 101)
    final = reports[-1]
    assert final["state"] == "succeeded", final.get("error")
    assert reports[0]["state"] == "running" and any(0 < r["progress"] < 1 for r in reports)
    result = final["result"]
    assert result["schema"] == "body-composition/1" and result["method"] == "threshold"
    l3, l1 = result["levels"]
    assert (l3["level"], l3["n_slices_used"], l3["status"]) == ("L3", 3, "ok")
    assert l1["status"] == "no_cutoff_for_level" and l1["flags"] == []
    assert l3["smi_cm2_m2"] == pytest.approx(l3["muscle_area_cm2"] / 1.72**2, abs=1e-2)
    assert result["patient"]["source"] == {"height_m": "parameters", "weight_kg": "dicom",
                                           "sex": "dicom"}  # fmt: skip
    study, series = target["study_instance_uid"], result["seg"]["series_instance_uid"]
    seg = client.retrieve_instance(study, series, result["seg"]["sop_instance_uid"])
    masks = read_tissue_seg(seg)
    for item in result["masks"]["slices"]:
        assert (masks[item["sop_instance_uid"]].label_map() == decode_masks(item).label_map()).all()
    assert hd.seg.Segmentation.from_dataset(seg).number_of_segments == 4
    sr = client.retrieve_instance(study, result["sr"]["series_instance_uid"],
                                  result["sr"]["sop_instance_uid"])  # fmt: skip
    values = read_bodycomp_sr(sr)
    assert values["L3 muscle"]["Area"] == pytest.approx(l3["muscle_area_cm2"])
    assert values["L3 indices"]["Skeletal muscle index"] == pytest.approx(l3["smi_cm2_m2"])
    # A redelivered job stores the same objects: still one SEG and one SR series.
    _send(102, parameters, target)
    again = _reports(gpu_worker, 102)[-1]["result"]
    assert again["seg"] == result["seg"] and again["sr"] == result["sr"]
    modalities = [s["00080060"]["Value"][0] for s in client.search_for_series(study)]
    assert sorted(modalities) == ["CT", "SEG", "SR"]


def test_network_job_and_a_missing_slice(setup: Setup) -> None:
    cases, gpu_worker = setup.cases, setup.broker
    parameters, target = _request(cases, "network")
    _send(201, parameters, target)
    final = _reports(gpu_worker, 201)[-1]
    assert final["state"] == "succeeded", final.get("error")
    assert final["result"]["model"]["name"] == "bodycomp-seg"
    assert final["result"]["model"]["version"] == "1" and final["result"]["model"]["sha256"]
    parameters["levels"][0]["sop_instance_uids"] = ["1.2.3.4.5"]
    _send(202, parameters, target)
    failed = _reports(gpu_worker, 202)[-1]
    assert failed["state"] == "failed" and "1.2.3.4.5" in failed["error"]
    assert "Traceback" not in failed["error"]

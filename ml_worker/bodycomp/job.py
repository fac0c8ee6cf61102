"""The body-composition job behind the `measure_body_composition` task:
read the parameters, fetch the chosen slices over DICOMweb, segment and
measure (`pipeline.measure_series`), store the SEG and SR over STOW-RS.

Task arguments (sent by name to the `gpu` queue):

    target = {"study_instance_uid": str, "series_instance_uid": str}
    parameters = {
        "levels": [{"level": "L3", "sop_instance_uids": [uid, ...]}, ...],
            # the mid-slice and its neighbours (mid ± k) of each chosen level,
            # as the classification result lists them; one series per job
        "method": "threshold" | "network",          # default "threshold"
        "model_version": str | None,                # network: default the current one
        "patient": {"height_m", "weight_kg", "sex"}, # optional; missing keys come
                                                     # from the de-identified headers
    }

The result is the `pipeline` schema "body-composition/1".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset

from ml_worker import config
from ml_worker.bodycomp.factory import make_segmenter
from ml_worker.bodycomp.model_store import DEFAULT_NAME
from ml_worker.bodycomp.pipeline import (
    Algorithm,
    LevelRequest,
    measure_series,
    patient_from_headers,
)
from ml_worker.fetch import FetchError, store_instance

MODEL_NAME = os.environ.get("BODYCOMP_MODEL_NAME", DEFAULT_NAME)
MAX_SLICES = 64  # a few slices per level; more is a mistake in the request


class JobError(ValueError):
    """The job's parameters cannot be run; the message is for the user."""


def parse_levels(parameters: dict[str, Any]) -> list[LevelRequest]:
    raw = parameters.get("levels")
    if not isinstance(raw, list) or not raw:
        raise JobError("parameters.levels must list at least one level with its slices")
    requests_: list[LevelRequest] = []
    for item in raw:
        item = item if isinstance(item, dict) else {}
        uids = item.get("sop_instance_uids")
        if not isinstance(item.get("level"), str) or not isinstance(uids, list) or not uids:
            raise JobError("each level needs a name and a non-empty sop_instance_uids list")
        requests_.append(LevelRequest(item["level"], tuple(str(u) for u in uids)))
    if len({u for r in requests_ for u in r.sop_instance_uids}) > MAX_SLICES:
        raise JobError(f"at most {MAX_SLICES} slices per job")
    return requests_


def fetch_slices(
    client: DICOMwebClient, study_uid: str, series_uid: str, sop_uids: list[str]
) -> list[Dataset]:
    """Only the chosen instances (WADO-RS, one request each), not the series."""
    datasets = []
    for uid in sop_uids:
        try:
            datasets.append(client.retrieve_instance(study_uid, series_uid, uid))
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise FetchError(f"slice {uid} could not be read (HTTP {status})") from exc
        except requests.RequestException as exc:
            raise FetchError(f"could not read slice {uid} from the image store: {exc}") from exc
    return datasets


def run_job(
    parameters: dict[str, Any],
    target: dict[str, str],
    client: DICOMwebClient,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    levels = parse_levels(parameters)
    method = parameters.get("method", "threshold")
    try:
        segmenter, sha = make_segmenter(
            method, root=Path(config.MODEL_REGISTRY_DIR), name=MODEL_NAME,
            version=parameters.get("model_version"),
        )  # fmt: skip
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    uids = list(dict.fromkeys(u for r in levels for u in r.sop_instance_uids))
    study, series = target["study_instance_uid"], target["series_instance_uid"]
    datasets = fetch_slices(client, study, series, uids)
    if progress is not None:
        progress(0.1, f"fetched {len(datasets)} slices")
    patient, source = patient_from_headers(datasets, parameters.get("patient"))
    result, seg, sr = measure_series(
        datasets,
        levels,
        segmenter,
        Algorithm(method, segmenter.name, segmenter.version, sha),
        patient=patient,
        patient_source=source,
        progress=None if progress is None else (lambda f, m: progress(0.1 + 0.8 * f, m)),
    )
    for instance in (seg, sr):  # SEG first: the SR references it
        if instance is not None:
            store_instance(client, instance)
    return result

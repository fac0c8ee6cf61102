"""Celery tasks of the `gpu` queue. Thin: report start, call the pure function,
report the result or the failure. They take a job id and never touch the
platform's database."""

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ml_worker import config, registry
from ml_worker.bodycomp.job import JobError, fetch_slices, run_job
from ml_worker.bodycomp.remeasure import RemeasureError, remeasure_level
from ml_worker.celery_app import app
from ml_worker.fetch import FetchError, SeriesStream, dicomweb_client, store_instance
from ml_worker.model import Checkpoint
from ml_worker.pipeline import SeriesInput, classify_series
from ml_worker.preprocess import SeriesError
from ml_worker.reporting import JobReporter
from ml_worker.runtime import describe_runtime, select_device
from ml_worker.training.job import TrainingJobError, run_evaluation, run_training

logger = logging.getLogger(__name__)


@app.task(name="ml_worker.worker_info", acks_late=True)
def worker_info(job_id: int, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    reporter = JobReporter(app, job_id)
    reporter.started()
    try:
        info = describe_runtime()
    except Exception as exc:
        logger.exception("job %s: worker_info failed", job_id)
        reporter.failed(f"{type(exc).__name__}: {exc}")
        raise
    reporter.succeeded(info)
    return info


# Loaded models, per worker process, keyed by file hash (a worker serves one GPU).
_MODELS: dict[str, tuple[registry.ModelRecord, Checkpoint]] = {}


def _model(version: str | None) -> tuple[registry.ModelRecord, Checkpoint]:
    root = Path(config.MODEL_REGISTRY_DIR)
    record = registry.resolve(root, config.MODEL_NAME, version)
    if record.sha256 not in _MODELS:
        _MODELS[record.sha256] = (record, registry.load(root, record, select_device()))
    return _MODELS[record.sha256]


@app.task(name="ml_worker.classify_levels", acks_late=True)
def classify_levels(
    job_id: int, parameters: dict[str, Any] | None = None, target: dict[str, str] | None = None
) -> None:
    """Classify every slice of a series. Idempotent: a redelivered task computes
    the same result and stores the same SR UIDs; the platform keeps the first."""
    reporter = JobReporter(app, job_id)
    reporter.started()
    parameters, target = parameters or {}, target or {}

    def work() -> dict[str, Any]:
        record, checkpoint = _model(parameters.get("model_version"))
        client = dicomweb_client()
        stream = SeriesStream(client, target["study_instance_uid"], target["series_instance_uid"])
        result, sr = classify_series(
            SeriesInput(stream, stream.headers),
            checkpoint,
            record,
            device=select_device(),
            batch_size=config.INFERENCE_BATCH_SIZE,
            progress=reporter.progress,
        )
        store_instance(client, sr)
        return result

    expected = (SeriesError, FetchError, registry.RegistryError, KeyError)
    result = _attempt(reporter, job_id, "classification", expected, work)
    if result is None:
        return
    reporter.succeeded(result, message=f"{len(result['ranges'])} levels found")


@app.task(name="ml_worker.measure_body_composition", acks_late=True)
def measure_body_composition(
    job_id: int, parameters: dict[str, Any] | None = None, target: dict[str, str] | None = None
) -> None:
    """Segment and measure muscle and fat at chosen levels (parameters and
    result schema "body-composition/1": ml_worker.bodycomp.job and .pipeline).
    Idempotent: SEG and SR UIDs derive from the inputs, so a redelivered task
    stores the same objects again."""
    reporter = JobReporter(app, job_id)
    reporter.started()
    result = _attempt(
        reporter,
        job_id,
        "body composition",
        (JobError, SeriesError, FetchError, registry.RegistryError, KeyError),
        lambda: run_job(parameters or {}, target or {}, dicomweb_client(), reporter.progress),
        _measure_message,
    )
    if result is None:
        return
    statuses = [row["status"] for row in result["levels"]]
    reporter.succeeded(result, message=f"{statuses.count('ok')}/{len(statuses)} levels ok")


@app.task(name="ml_worker.remeasure_body_composition", acks_late=True)
def remeasure_body_composition(
    job_id: int, parameters: dict[str, Any] | None = None, target: dict[str, str] | None = None
) -> None:
    """Measure one level again from corrected masks and store their SEG and SR
    (ml_worker.bodycomp.remeasure). CPU only; idempotent (derived UIDs)."""
    reporter = JobReporter(app, job_id)
    reporter.started()
    parameters, target = parameters or {}, target or {}

    def work() -> dict[str, Any]:
        uids = [str(u) for u in parameters.get("sop_instance_uids") or []]
        study, series = target["study_instance_uid"], target["series_instance_uid"]
        client = dicomweb_client()
        datasets = fetch_slices(client, study, series, uids)
        result, seg, sr = remeasure_level(datasets, parameters)
        for instance in (seg, sr):  # SEG first: the SR references it
            if instance is not None:
                store_instance(client, instance)
        return result

    expected = (RemeasureError, SeriesError, FetchError, KeyError, ValueError)
    result = _attempt(reporter, job_id, "re-measurement", expected, work, _measure_message)
    if result is None:
        return
    reporter.succeeded(result, message=f"{result['level']['level']}: {result['level']['status']}")


# Instances of a dataset version are cached here between training and evaluation jobs.
DATASET_CACHE = Path(config.MODEL_REGISTRY_DIR).parent / "datasets"


def _learning_job(job_id: int, run: Any, parameters: dict[str, Any] | None,
                  data: dict[str, Any] | None, what: str) -> None:  # fmt: skip
    """Train or evaluate on a dataset version's manifest rows (ml_worker.training.job)."""
    reporter = JobReporter(app, job_id)
    reporter.started()
    threads = torch.get_num_threads()  # a preset may pin threads: restore them after
    expected = (TrainingJobError, SeriesError, FetchError, registry.RegistryError, KeyError,
                ValueError)  # fmt: skip
    try:
        result = _attempt(
            reporter, job_id, what, expected,
            lambda: run(
                parameters or {}, data or {}, dicomweb_client(), work_root=DATASET_CACHE,
                registry_root=Path(config.MODEL_REGISTRY_DIR), model_name=config.MODEL_NAME,
                progress=reporter.progress,
            ),
            lambda exc: f"The model cannot be {what}: {exc}",
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    if result is None:
        return
    accuracy = result["reports"].get("test", result["reports"].get("val", {})).get("accuracy")
    reporter.succeeded(
        result,
        message=f"{result['model']['name']} v{result['model']['version']}"
        + (f": accuracy {100 * accuracy:.1f} %" if accuracy is not None else ""),
    )


@app.task(name="ml_worker.train_classifier", acks_late=True)
def train_classifier(
    job_id: int, parameters: dict[str, Any] | None = None, data: dict[str, Any] | None = None
) -> None:
    """Train a level classifier on a frozen dataset version and register it
    (not made current: the platform promotes). A redelivered task trains and
    registers again; the platform keeps the first result."""
    _learning_job(job_id, run_training, parameters, data, "trained")


@app.task(name="ml_worker.evaluate_classifier", acks_late=True)
def evaluate_classifier(
    job_id: int, parameters: dict[str, Any] | None = None, data: dict[str, Any] | None = None
) -> None:
    """Evaluate a registered version on a dataset version's test split and
    held-out centres. Idempotent (reads only)."""
    _learning_job(job_id, run_evaluation, parameters, data, "evaluated")


def _attempt(
    reporter: JobReporter,
    job_id: int,
    what: str,
    expected: tuple[type[Exception], ...],
    work: Callable[[], dict[str, Any]],
    describe: Callable[[Exception], str] | None = None,
) -> dict[str, Any] | None:
    """Run a task's work. An expected failure (bad input, store down) is
    reported with a clear message and ends the task (None); anything else is
    reported as an internal error and re-raised so Celery logs it."""
    try:
        return work()
    except expected as exc:
        logger.warning("job %s: %s failed: %s", job_id, what, exc)
        reporter.failed((describe or _clear_message)(exc))
        return None
    except Exception as exc:
        logger.exception("job %s: %s crashed", job_id, what)
        reporter.failed(f"Internal error in the worker ({type(exc).__name__}).")
        raise


def _measure_message(exc: Exception) -> str:
    if isinstance(exc, SeriesError):
        return f"The slices cannot be measured: {exc}"
    return _clear_message(exc)


def _clear_message(exc: Exception) -> str:
    if isinstance(exc, SeriesError):
        return f"The series cannot be classified: {exc}"
    if isinstance(exc, KeyError):
        return f"The job is missing {exc}."
    return str(exc)

"""Storing the worker's body composition result: one row per (job, level),
values as reported (null with a status, never zero), idempotent."""

from typing import Any

from analysis.bodycomp.store import measurements_store
from analysis.models import BodyCompositionMeasurement, JobState
from analysis.services import job_apply_report
from tests import factories
from tests.analysis.bodycomp_helpers import example_result
from tests.conftest import World


def _job(world: World) -> Any:
    series = world.objects["series_own"]
    return factories.JobFactory(
        project=world.project,
        institution=world.inst_a,
        series=series,
        job_type="measure_body_composition",
        parameters={"level_source": "verified"},
    )


def test_report_stores_one_row_per_level(world: World) -> None:
    job = _job(world)
    job_apply_report(job_id=job.pk, state="succeeded", result=example_result())
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    rows = {m.level: m for m in BodyCompositionMeasurement.objects.filter(job=job)}
    assert set(rows) == {"L3", "L1"}
    l3 = rows["L3"]
    assert (l3.status, l3.smi_cm2_m2, l3.muscle_area_cm2, l3.n_slices) == ("ok", 91.003, 241.786, 3)
    assert l3.flags[0]["citation"].startswith("Prado CMM")
    assert l3.method == "threshold" and l3.model_version == "1" and l3.level_source == "verified"
    assert l3.seg_sop_instance_uid and l3.sr_sop_instance_uid
    # The example keeps one slice's mask (of L3's first slice) to stay small.
    assert [m["sop_instance_uid"] for m in l3.masks] == [l3.slices[0]["sop_instance_uid"]]
    assert rows["L1"].masks == []
    assert rows["L1"].status == "no_cutoff_for_level"
    assert "masks" not in str(job.result) and job.result["levels"][0]["level"] == "L3"


def test_a_retried_store_creates_no_duplicates(world: World) -> None:
    job = _job(world)
    first = measurements_store(job, example_result())
    second = measurements_store(job, example_result())
    assert first["levels"] == second["levels"]
    assert BodyCompositionMeasurement.objects.filter(job=job).count() == 2
    job_apply_report(job_id=job.pk, state="succeeded", result=example_result())
    assert job_apply_report(job_id=job.pk, state="succeeded", result=example_result()) is None
    assert BodyCompositionMeasurement.objects.filter(job=job).count() == 2


def test_missing_values_stay_null_with_their_status(world: World) -> None:
    result = example_result()
    row = result["levels"][0]
    row.update(status="missing_height", issues=["missing_height"], smi_cm2_m2=None)
    job = _job(world)
    measurements_store(job, result)
    stored = BodyCompositionMeasurement.objects.get(job=job, level="L3")
    assert stored.status == "missing_height" and stored.smi_cm2_m2 is None


def test_a_malformed_result_fails_the_job(world: World) -> None:
    job = _job(world)
    job_apply_report(job_id=job.pk, state="succeeded", result={"schema": "other/1"})
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "could not be stored" in job.error
    assert not BodyCompositionMeasurement.objects.filter(job=job).exists()

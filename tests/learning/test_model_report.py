"""The per-centre model report page: promoted and candidate side by side per
level and centre, escaped text, no inline script, CSV download audited, and
the admin's training form (refusals shown as messages, others 403)."""

import re

from django.test import Client

from analysis.models import Job
from audit.models import AuditAction, AuditEvent
from learning import registry
from learning.models import EvaluationKind, ModelEvaluation
from tests.conftest import World
from tests.learning.helpers import dataset_with_rows, model_version

GOOD = [("train", ["L2", "L3"]), ("validation", ["L3", "L2"]), ("test", ["L3"])]


def _evaluation(world: World, model, dataset, l3: float, b: float) -> ModelEvaluation:  # noqa: ANN001
    return ModelEvaluation.objects.create(
        project=world.project, model_version=model, dataset=dataset,
        kind=EvaluationKind.EVALUATION, main_set="test", accuracy=l3, passed=True,
        per_class={"L3": l3, "T7": 0.5},
        per_centre={
            "A": {"set": "test", "accuracy": l3, "per_class_accuracy": {"L3": l3, "T7": 0.5}},
            "B": {"set": "external", "accuracy": b, "per_class_accuracy": {"L3": b}},
        },
    )  # fmt: skip


def _setup(world: World) -> tuple[object, object, object]:
    dataset = dataset_with_rows(world, GOOD)
    promoted = model_version("1")
    registry.model_promote(project=world.project, model=promoted, user=world.users["project_admin"])
    candidate = model_version("2")
    candidate.name = "<b>evil</b>"
    candidate.save()
    _evaluation(world, promoted, dataset, 0.81, 0.72)
    _evaluation(world, candidate, dataset, 0.93, 0.88)
    return dataset, promoted, candidate


def _client(world: World, user: str) -> Client:
    client = Client()
    client.force_login(world.users[user])
    return client


def test_report_shows_both_models_per_level_and_centre_escaped(world: World) -> None:
    dataset, promoted, candidate = _setup(world)
    page = _client(world, "viewer").get(f"/projects/{world.project.pk}/models/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;b&gt;evil&lt;/b&gt; v2" in html and "<b>evil" not in html
    row = re.search(r"<tr><th>L3</th>(.*?)</tr>", html, re.S)
    assert row is not None
    cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
    assert cells == ["0.810", "0.930", "0.810", "0.930", "0.720", "0.880"]  # all, A, B
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))  # no inline script
    assert "script-src" in page["Content-Security-Policy"]
    assert (
        _client(world, "outsider").get(f"/projects/{world.project.pk}/models/").status_code == 404
    )


def test_report_csv_is_audited(world: World) -> None:
    dataset, promoted, candidate = _setup(world)
    query = f"?dataset={dataset.pk}&candidate={candidate.pk}"
    url = f"/projects/{world.project.pk}/models/report.csv{query}"
    response = _client(world, "analyst").get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("dataset_version,centre,set,level,promoted")
    assert "v1,B,external,L3,spine-levels v1,0.7200,<b>evil</b> v2,0.8800" in lines
    event = AuditEvent.objects.get(action=AuditAction.DATA_DOWNLOADED)
    assert event.detail["export"] == "model_report" and event.project_id == world.project.pk
    denied = _client(world, "outsider").get(url)
    downloads = AuditEvent.objects.filter(action=AuditAction.DATA_DOWNLOADED)
    assert denied.status_code == 404 and downloads.count() == 1


def test_training_form_starts_a_job_or_shows_the_refusal(world: World) -> None:
    good = dataset_with_rows(world, GOOD)
    bad = dataset_with_rows(world, [("train", ["L3"])], number=2)
    url = f"/projects/{world.project.pk}/models/train/"
    admin = _client(world, "project_admin")
    refused = admin.post(url, {"dataset": bad.pk, "preset": "demo"}, follow=True)
    assert "no labelled validation slices" in refused.content.decode()
    assert not Job.objects.filter(job_type="train_classifier").exists()
    started = admin.post(url, {"dataset": good.pk, "preset": "demo", "epochs": "1"})
    assert started.status_code == 302 and started["Location"].endswith("#jobs")
    job = Job.objects.get(job_type="train_classifier")
    assert job.parameters["epochs"] == 1 and job.created_by == world.users["project_admin"]
    assert _client(world, "labeler").post(url, {"dataset": good.pk}).status_code == 403
    page = admin.get(f"/projects/{world.project.pk}/")
    assert 'id="train-form"' in page.content.decode() and 'id="jobs-table"' in page.content.decode()

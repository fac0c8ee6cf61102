"""The platform model registry: sync from the file registry, promotion and
rollback, refused promotions, and classification jobs using the promotion."""

from pathlib import Path

from django.core.management import call_command

from audit.models import AuditAction, AuditEvent
from learning import registry as learning_registry
from learning.models import ModelPromotion, ModelStatus, ModelVersion
from ml_worker import registry
from ml_worker.model import ModelConfig, build_model, save_checkpoint
from tests.conftest import World, client_for
from tests.learning.helpers import frozen_dataset, model_version

METRICS = {
    "val_accuracy": 0.91,
    "per_class_accuracy": {"T7": 0.62, "L3": 0.97},
    "external_accuracy": {"B": 0.88},
}


def _promote(world: World, model: ModelVersion, user: str = "project_admin") -> object:
    return client_for(world.users[user]).post(
        f"/api/v1/projects/{world.project.pk}/model/promote/",
        {"model_version": model.pk},
        format="json",
    )


def _rollback(world: World) -> object:
    return client_for(world.users["project_admin"]).post(
        f"/api/v1/projects/{world.project.pk}/model/rollback/", format="json"
    )


def _current(world: World) -> ModelVersion:
    promotion = ModelPromotion.objects.filter(project=world.project).first()
    assert promotion is not None
    return promotion.model_version


def test_sync_models_reads_the_file_registry(world: World, tmp_path: Path) -> None:
    root = tmp_path / "models"
    checkpoint = save_checkpoint(
        tmp_path / "a.pt", build_model(ModelConfig.for_arch("tiny", input_size=64))
    )
    dataset = frozen_dataset(world)
    tag = f"{world.project.slug}:v{dataset.number}"
    registry.register(root, "spine-levels", checkpoint)  # the demo model: no metrics
    registry.register(
        root,
        "spine-levels",
        checkpoint,
        metrics=METRICS,
        training_data={"dataset_version": tag, "train": {"slices": 10}},
        code_version="abc123",
    )

    call_command("sync_models", root=str(root), name="spine-levels")
    call_command("sync_models", root=str(root), name="spine-levels")  # idempotent

    demo, trained = ModelVersion.objects.order_by("version")
    assert ModelVersion.objects.count() == 2
    assert (demo.version, demo.status, demo.training_dataset) == ("1", "candidate", None)
    assert trained.status == ModelStatus.EVALUATED and trained.code_version == "abc123"
    assert trained.metrics_per_class == {"T7": 0.62, "L3": 0.97}
    assert trained.metrics_per_centre == {"B": 0.88}
    assert trained.training_dataset == dataset
    assert trained.sha256 == registry.resolve(root, "spine-levels", "2").sha256
    assert learning_registry.RECORD_FILE == registry.RECORD_FILE  # the layout sync reads


def test_promote_and_roll_back(world: World) -> None:
    first, second = model_version("1"), model_version("2")
    assert _promote(world, first).status_code == 201
    response = _promote(world, second)
    assert response.status_code == 201 and response.json()["model_version"]["version"] == "2"
    first.refresh_from_db()
    assert _current(world) == second and first.status == ModelStatus.EVALUATED

    rolled = _rollback(world)

    assert rolled.status_code == 201 and rolled.json()["action"] == "rollback"
    assert _current(world) == first
    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, second.status) == (ModelStatus.PROMOTED, ModelStatus.EVALUATED)
    again = _rollback(world)  # nothing stood before the first promotion
    assert again.status_code == 409 and "no earlier" in again.json()["message"]
    state = client_for(world.users["viewer"]).get(f"/api/v1/projects/{world.project.pk}/model/")
    assert state.json()["promoted"]["model_version"]["version"] == "1"
    assert [h["action"] for h in state.json()["history"]] == ["rollback", "promote", "promote"]
    actions = AuditEvent.objects.filter(project_id=world.project.pk).values_list(
        "action", flat=True
    )
    assert sorted(a for a in actions if a.startswith("model_")) == [
        AuditAction.MODEL_PROMOTED,
        AuditAction.MODEL_PROMOTED,
        AuditAction.MODEL_ROLLED_BACK,
    ]


def test_failed_or_unevaluated_versions_are_not_promoted(world: World) -> None:
    failed = model_version("3", status=ModelStatus.FAILED)
    bare = model_version("4", status=ModelStatus.CANDIDATE, metrics={})

    refused = _promote(world, failed)
    unevaluated = _promote(world, bare)

    assert refused.status_code == 400 and "failed evaluation" in refused.json()["message"]
    assert (
        unevaluated.status_code == 400 and "no evaluation metrics" in unevaluated.json()["message"]
    )
    assert _promote(world, model_version("5"), user="reviewer").status_code == 403
    assert not ModelPromotion.objects.exists()


def test_classification_jobs_carry_the_promoted_version(world: World) -> None:
    series = world.objects["series_own"]
    client = client_for(world.users["labeler"])
    body = {"project": world.project.pk, "job_type": "classify_levels", "series": series.pk}
    before = client.post("/api/v1/jobs/", body, format="json")
    assert before.status_code == 201 and "model_version" not in before.json()["parameters"]

    _promote(world, model_version("2"))
    after = client.post("/api/v1/jobs/", body, format="json")

    assert after.status_code == 201
    assert after.json()["parameters"]["model_version"] == "2"
    assert after.json()["parameters"]["model_name"] == "spine-levels"
    unknown = client.post(
        "/api/v1/jobs/", {**body, "parameters": {"model_version": "99"}}, format="json"
    )
    assert unknown.status_code == 400 and "99" in unknown.json()["message"]


def test_project_page_shows_the_promoted_model_and_datasets(world: World) -> None:
    from django.test import Client

    _promote(world, model_version("2"))
    frozen_dataset(world)
    pages = {}
    for role in ("project_admin", "labeler"):
        client = Client()
        client.force_login(world.users[role])
        pages[role] = client.get(f"/projects/{world.project.pk}/").content.decode()

    assert "spine-levels v2" in pages["project_admin"] and "spine-levels v2" in pages["labeler"]
    assert "/api/v1/datasets/" in pages["project_admin"] and "manifest" in pages["project_admin"]
    assert 'class="dataset-manifest"' not in pages["labeler"]
    assert "review-queue/?role=labeler" in pages["labeler"]
    assert "review-queue/?role" not in pages["project_admin"]

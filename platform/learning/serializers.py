"""Request bodies and responses of the learning endpoints."""

from rest_framework import serializers

from learning.models import DatasetVersion, ModelEvaluation, ModelPromotion, ModelVersion


class FreezeIn(serializers.Serializer):
    institutions = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        help_text="Institution codes to include (empty: all participating centres)",
    )
    series = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list
    )
    cohort = serializers.IntegerField(required=False, allow_null=True, default=None)
    held_out_institutions = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        help_text="Centres kept out whole for external validation",
    )
    val_fraction = serializers.FloatField(min_value=0, max_value=0.9, default=0.15)
    test_fraction = serializers.FloatField(min_value=0, max_value=0.9, default=0.15)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetOut(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    series_count = serializers.IntegerField(read_only=True)
    mask_count = serializers.SerializerMethodField(help_text="Frozen tissue mask slices")
    manifest_url = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "project",
            "number",
            "description",
            "selection",
            "held_out_institutions",
            "val_fraction",
            "test_fraction",
            "series_count",
            "mask_count",
            "summary",
            "skipped",
            "content_sha256",
            "created_by",
            "created_at",
            "manifest_url",
        ]
        read_only_fields = fields

    def get_mask_count(self, obj: DatasetVersion) -> int:
        # Frozen with the version, so the summary is exact (and needs no join).
        return int(obj.summary.get("masks", {}).get("slices", 0))

    def get_manifest_url(self, obj: DatasetVersion) -> str:
        return f"/api/v1/datasets/{obj.pk}/manifest.csv"


class ModelVersionOut(serializers.ModelSerializer):
    training_dataset = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "version",
            "sha256",
            "status",
            "training_dataset",
            "code_version",
            "metrics",
            "metrics_per_class",
            "metrics_per_centre",
            "training_data",
            "registered_at",
            "synced_at",
        ]
        read_only_fields = fields

    def get_training_dataset(self, obj: ModelVersion) -> dict[str, int] | None:
        dataset = obj.training_dataset
        if dataset is None:
            return None
        return {"id": dataset.pk, "project": dataset.project_id, "number": dataset.number}


class PromotionOut(serializers.ModelSerializer):
    model_version = ModelVersionOut(read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ModelPromotion
        fields = ["id", "project", "model_version", "action", "previous", "actor", "comment"]
        read_only_fields = fields


class ProjectModelOut(serializers.Serializer):
    promoted = PromotionOut(allow_null=True)
    can_roll_back = serializers.BooleanField()
    history = PromotionOut(many=True)


class PromoteIn(serializers.Serializer):
    model_version = serializers.IntegerField(min_value=1, help_text="ModelVersion id")
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class QueueIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=["labeler", "reviewer"])
    limit = serializers.IntegerField(min_value=1, max_value=200, default=20)


class QueueItemOut(serializers.Serializer):
    series = serializers.IntegerField()
    study = serializers.IntegerField()
    institution = serializers.CharField()
    description = serializers.CharField()
    score = serializers.FloatField(help_text="uncertainty + disagreement; higher first")
    uncertainty = serializers.FloatField(help_text="1 - mean slice confidence")
    disagreement = serializers.FloatField(help_text="1 - lowest per-level Dice")
    weakest_level = serializers.CharField(allow_null=True)
    disagreement_level = serializers.CharField(allow_null=True)
    model_version = serializers.CharField(allow_null=True)
    tracks = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.CharField())


class QueueOut(serializers.Serializer):
    role = serializers.CharField()
    items = QueueItemOut(many=True)


class EvaluationOut(serializers.ModelSerializer):
    model_name = serializers.CharField(source="model_version.name", read_only=True)
    model_version_label = serializers.CharField(source="model_version.version", read_only=True)
    dataset_number = serializers.IntegerField(source="dataset.number", read_only=True, default=None)
    artifacts = serializers.SerializerMethodField()

    def get_artifacts(self, evaluation: ModelEvaluation) -> list[str]:
        return [a.name for a in evaluation.artifacts.all()]

    class Meta:
        model = ModelEvaluation
        fields = [
            "id",
            "model_version",
            "model_name",
            "model_version_label",
            "dataset",
            "dataset_number",
            "job",
            "kind",
            "main_set",
            "accuracy",
            "per_class",
            "per_centre",
            "passed",
            "thresholds",
            "reasons",
            "artifacts",
            "created_at",
        ]
        read_only_fields = fields

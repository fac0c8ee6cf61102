"""The learning loop's records: frozen dataset versions (verified level labels
and tissue masks copied, never referenced), the model versions known to the platform, and each
project's promotion log (the promoted version is the newest entry)."""

from typing import Any

from django.conf import settings
from django.db import models


class FrozenQuerySet(models.QuerySet):
    """Bulk updates and deletes bypass save()/delete(): refuse them too."""

    def update(self, **kwargs: Any) -> int:
        raise PermissionError(f"{self.model._meta.label} rows are frozen")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError(f"{self.model._meta.label} rows are frozen")


class Frozen(models.Model):
    """Written once when a dataset version is frozen; never changed or deleted."""

    objects = FrozenQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError(f"{self._meta.label} rows are frozen")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError(f"{self._meta.label} rows are frozen")


class Split(models.TextChoices):
    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"
    EXTERNAL = "external"  # a whole centre held out for external validation


class DatasetVersion(Frozen):
    """An immutable training set: the verified labels of a cohort at one moment."""

    project = models.ForeignKey(
        "projects.ResearchProject", on_delete=models.PROTECT, related_name="dataset_versions"
    )
    number = models.PositiveIntegerField(help_text="1, 2, ... per project")
    description = models.TextField(blank=True)
    selection = models.JSONField(
        default=dict, help_text="The cohort filter: institutions, series, cohort"
    )
    held_out_institutions = models.JSONField(default=list, help_text="Institution codes")
    val_fraction = models.FloatField()
    test_fraction = models.FloatField()
    summary = models.JSONField(default=dict, help_text="Series and slices per split and label")
    skipped = models.JSONField(default=list, help_text="Selected series left out, with reasons")
    content_sha256 = models.CharField(max_length=64, help_text="Digest of the frozen rows")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="one_dataset_number")
        ]

    def __str__(self) -> str:
        return f"Dataset v{self.number} of project {self.project_id}"


class DatasetSeries(Frozen):
    """One series of a dataset version with copies of everything training needs:
    the per-slice labels, the instances to fetch, the centre and the review."""

    dataset = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="rows")
    # No database constraint: the frozen copy outlives the series row.
    series = models.ForeignKey(
        "imaging.Series", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    study_instance_uid = models.CharField(max_length=64)
    series_instance_uid = models.CharField(max_length=64)
    institution_id = models.BigIntegerField()
    institution_code = models.CharField(max_length=32)
    split = models.CharField(max_length=16, choices=Split.choices)
    scheme = models.CharField(max_length=16)
    labels = models.JSONField(help_text="Per slice, superior first; null: no level")
    sop_instance_uids = models.JSONField()
    slice_positions_mm = models.JSONField(default=list)
    track_id = models.BigIntegerField()
    track_revision = models.PositiveIntegerField()
    labeler = models.CharField(max_length=150)
    reviewer = models.CharField(max_length=150)
    verified_at = models.DateTimeField()
    source_model_version = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["dataset_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "series"], name="one_row_per_series")
        ]

    def __str__(self) -> str:
        return f"Series {self.series_id} in dataset {self.dataset_id} ({self.split})"


class DatasetMask(Frozen):
    """One slice's verified tissue label map in a dataset version: a copy of the
    encoded map of the verified mask revision, so later corrections (new
    revisions) or a return never change the version."""

    dataset = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="masks")
    # No database constraints: the frozen copy outlives the series and measurement.
    series = models.ForeignKey(
        "imaging.Series", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    measurement_id = models.BigIntegerField()
    level = models.CharField(max_length=8)
    study_instance_uid = models.CharField(max_length=64)
    series_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64)
    case = models.CharField(max_length=64, help_text="Patient pseudonym, else study-<id>")
    institution_code = models.CharField(max_length=32)
    split = models.CharField(max_length=16, choices=Split.choices)
    shape = models.JSONField(help_text="[rows, columns]")
    data = models.TextField(help_text="zlib+base64 uint8 label map, 0-4")
    revision = models.PositiveIntegerField(help_text="The verified mask revision")
    corrector = models.CharField(max_length=150, blank=True, help_text="Blank: model masks")
    reviewer = models.CharField(max_length=150)
    verified_at = models.DateTimeField()

    class Meta:
        ordering = ["dataset_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "series", "level", "sop_instance_uid"],
                name="one_mask_per_dataset_slice",
            )
        ]

    def __str__(self) -> str:
        return f"{self.level} mask of {self.sop_instance_uid} in dataset {self.dataset_id}"


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate"  # registered, not evaluated
    EVALUATED = "evaluated"
    FAILED = "failed"  # evaluation failed: never promoted
    PROMOTED = "promoted"  # some project's classification uses it
    RETIRED = "retired"


class ModelVersion(models.Model):
    """A version of the file registry (ml_worker.registry) as the platform knows it."""

    name = models.CharField(max_length=64)
    version = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64)
    training_dataset = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="models"
    )
    code_version = models.CharField(max_length=64, blank=True)
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="As the registry recorded")
    metrics_per_class = models.JSONField(default=dict, blank=True)
    metrics_per_centre = models.JSONField(default=dict, blank=True)
    training_data = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE
    )
    registered_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="one_model_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.status})"


class PromotionAction(models.TextChoices):
    PROMOTE = "promote"
    ROLLBACK = "rollback"


class ModelPromotion(Frozen):
    """One entry of a project's promotion log; the newest is the promoted version.
    `previous` is the entry that stood before, so a rollback re-promotes it and
    repeated rollbacks walk back through the history."""

    project = models.ForeignKey(
        "projects.ResearchProject", on_delete=models.PROTECT, related_name="model_promotions"
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=16, choices=PromotionAction.choices)
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.model_version_id} in project {self.project_id}"


class EvaluationKind(models.TextChoices):
    TRAINING = "training"  # the training job's own test split and held-out centres
    EVALUATION = "evaluation"


class ModelEvaluation(models.Model):
    """A model version measured on a dataset version's test split and held-out
    centres by one job, with the verdict against the project's thresholds."""

    project = models.ForeignKey(
        "projects.ResearchProject", on_delete=models.PROTECT, related_name="model_evaluations"
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="evaluations"
    )
    dataset = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    job = models.OneToOneField(
        "analysis.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=EvaluationKind.choices)
    main_set = models.CharField(max_length=32, help_text="test, or val without a test split")
    accuracy = models.FloatField(null=True, blank=True, help_text="Per-slice, on main_set")
    per_class = models.JSONField(default=dict, help_text="Accuracy per level on main_set")
    per_centre = models.JSONField(
        default=dict, help_text="Per centre: set, slices, accuracy, per_class_accuracy"
    )
    reports = models.JSONField(default=dict, help_text="Per set: per-class rows, per centre")
    passed = models.BooleanField()
    thresholds = models.JSONField(default=dict)
    reasons = models.JSONField(default=list, help_text="Why it failed")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_version} on {self.dataset_id}: {'passed' if self.passed else 'failed'}"


class EvaluationArtifact(models.Model):
    """A PNG or JSON file of an evaluation (history plot, confusion matrix,
    per-class table); served to members of the evaluation's project only."""

    evaluation = models.ForeignKey(
        ModelEvaluation, on_delete=models.CASCADE, related_name="artifacts"
    )
    name = models.CharField(max_length=100)
    content_type = models.CharField(max_length=40)
    data = models.BinaryField()

    class Meta:
        ordering = ["evaluation_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "name"], name="one_artifact_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} of evaluation {self.evaluation_id}"

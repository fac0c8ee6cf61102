from django.conf import settings
from django.db import models


class JobState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

# Reports may overtake each other between queues, so a queued job may finish
# without its "running" report having been seen.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    JobState.QUEUED: frozenset(
        {JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
}


class Job(models.Model):
    """A unit of background work (classification, segmentation, training...).

    `institution` is the owner of the data the job reads (null for project-wide
    jobs); it scopes who may see the job like the studies it touches."""

    project = models.ForeignKey(
        "projects.ResearchProject", on_delete=models.PROTECT, related_name="jobs"
    )
    institution = models.ForeignKey(
        "accounts.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    series = models.ForeignKey(
        "imaging.Series", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    job_type = models.CharField(max_length=32, db_index=True)
    state = models.CharField(
        max_length=16, choices=JobState.choices, default=JobState.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    message = models.CharField(max_length=500, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True, help_text="Compact result or reference")
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker started it")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.job_type} #{self.pk} ({self.state})"

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class SeriesLevels(models.Model):
    """The spine levels a classification job found for one series.

    Per-slice arrays follow the series' slice order (superior first, as in
    Series.slice_positions_mm). One row per job: a retried store changes nothing."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="levels")
    series = models.ForeignKey("imaging.Series", on_delete=models.CASCADE, related_name="levels")
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64)
    slice_sop_instance_uids = models.JSONField(default=list)
    slice_positions_mm = models.JSONField(
        default=list, blank=True, help_text="Body-axis position of each slice (patient z)"
    )
    slice_levels = models.JSONField(default=list, help_text="Decoded level name per slice")
    slice_confidence = models.JSONField(default=list, help_text="Posterior of the decoded level")
    slice_probabilities = models.JSONField(
        default=list, help_text="Per slice, 19 rounded probabilities"
    )
    ranges = models.JSONField(default=list)
    flags = models.JSONField(default=list)
    cams = models.BinaryField(blank=True, help_text="zlib-compressed uint8 [slices, h, w]")
    cam_shape = models.JSONField(default=list, blank=True)
    sr_sop_instance_uid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "series levels"

    def __str__(self) -> str:
        return f"Levels of series {self.series_id} by {self.model_name} {self.model_version}"


class BodyCompositionMeasurement(models.Model):
    """Muscle and fat measured at one level of one series by one job (schema
    `body-composition/1`). One row per (job, level): a retried store updates
    the same row. A null value always comes with a non-ok `status`/`issues`."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="measurements")
    series = models.ForeignKey(
        "imaging.Series", on_delete=models.CASCADE, related_name="measurements"
    )
    level = models.CharField(max_length=8, db_index=True)
    level_source = models.CharField(
        max_length=16, blank=True, help_text="Where the slices came from: model or verified"
    )
    status = models.CharField(max_length=32, db_index=True)
    issues = models.JSONField(default=list, blank=True)
    n_slices = models.PositiveIntegerField(default=0)
    n_slices_used = models.PositiveIntegerField(default=0)
    muscle_area_cm2 = models.FloatField(null=True, blank=True)
    imat_area_cm2 = models.FloatField(null=True, blank=True)
    sat_area_cm2 = models.FloatField(null=True, blank=True)
    vat_area_cm2 = models.FloatField(null=True, blank=True)
    muscle_density_hu = models.FloatField(null=True, blank=True)
    smi_cm2_m2 = models.FloatField(null=True, blank=True)
    vat_sat_ratio = models.FloatField(null=True, blank=True)
    bmi_kg_m2 = models.FloatField(null=True, blank=True)
    height_m = models.FloatField(null=True, blank=True)
    weight_kg = models.FloatField(null=True, blank=True)
    sex = models.CharField(max_length=1, blank=True)
    patient_source = models.JSONField(default=dict, blank=True)
    flags = models.JSONField(default=list, blank=True, help_text="Cut-offs with citations")
    slices = models.JSONField(default=list, blank=True, help_text="Per-slice rows")
    method = models.CharField(max_length=16)
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=64, db_index=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    seg_sop_instance_uid = models.CharField(max_length=64, blank=True)
    seg_series_instance_uid = models.CharField(max_length=64, blank=True)
    sr_sop_instance_uid = models.CharField(max_length=64, blank=True)
    sr_series_instance_uid = models.CharField(max_length=64, blank=True)
    masks = models.JSONField(
        default=list, blank=True, help_text="zlib+base64 uint8 label maps of the level's slices"
    )
    # Mask correction and review (analysis.masks): the current masks' revision,
    # the revision the values were measured from, who corrected them and the
    # masks' review state (like a series' level labels).
    mask_revision = models.PositiveIntegerField(default=0)
    measured_revision = models.PositiveIntegerField(default=0)
    mask_source = models.CharField(
        max_length=16, default="model", help_text="model or corrected (by a labeler)"
    )
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    corrected_at = models.DateTimeField(null=True, blank=True)
    mask_review_status = models.CharField(max_length=16, default="open", db_index=True)
    mask_review_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mask_review_at = models.DateTimeField(null=True, blank=True)
    mask_review_comment = models.TextField(blank=True)
    remeasure_job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "level"], name="one_measurement_per_job_level")
        ]

    def __str__(self) -> str:
        return f"{self.level} of series {self.series_id} by job {self.job_id} ({self.status})"


# Registered with this app (mask revisions and review events of the measurements).
from analysis.masks.models import MaskReviewEvent, MaskRevision  # noqa: E402, F401

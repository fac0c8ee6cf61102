from django.conf import settings
from django.db import models


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "O", "Other"
    UNKNOWN = "", "Unknown"


class Study(models.Model):
    """Index record of a de-identified study stored in the image store.

    Holds pseudonymised metadata only; the owning institution is the uploader's."""

    project = models.ForeignKey(
        "projects.ResearchProject", on_delete=models.PROTECT, related_name="studies"
    )
    institution = models.ForeignKey(
        "accounts.Institution", on_delete=models.PROTECT, related_name="studies"
    )
    study_instance_uid = models.CharField(max_length=64)
    patient_pseudonym = models.CharField(max_length=64, db_index=True)
    patient_sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    patient_age_years = models.PositiveSmallIntegerField(null=True, blank=True)
    patient_height_m = models.FloatField(null=True, blank=True)
    patient_weight_kg = models.FloatField(null=True, blank=True)
    study_date = models.DateField(null=True, blank=True, help_text="Shifted date")
    modality = models.CharField(max_length=16, blank=True)
    description = models.CharField(max_length=200, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "studies"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "study_instance_uid"], name="unique_study_per_project"
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_pseudonym} {self.study_date or ''} {self.modality}".strip()


class Series(models.Model):
    """Index record of a series, with the geometry the viewer and models need."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    series_number = models.IntegerField(null=True, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    description = models.CharField(max_length=200, blank=True)
    slice_count = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    pixel_spacing_mm = models.JSONField(null=True, blank=True, help_text="[row, column]")
    slice_thickness_mm = models.FloatField(null=True, blank=True)
    spacing_between_slices_mm = models.FloatField(null=True, blank=True)
    orientation = models.JSONField(null=True, blank=True, help_text="ImageOrientationPatient")
    slice_positions_mm = models.JSONField(
        default=list, blank=True, help_text="Sorted positions along the slice normal"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study_id", "series_number", "id"]
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "series_instance_uid"], name="unique_series_per_study"
            )
        ]

    def __str__(self) -> str:
        return f"Series {self.series_number or ''} {self.description}".strip()

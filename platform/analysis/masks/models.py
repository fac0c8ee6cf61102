"""Append-only history of a measurement's masks: every correction or undo is a
revision holding the full set of the level's label maps (a few KiB per slice),
and every submission or review decision an event pinned to a revision."""

from django.conf import settings
from django.db import models

from annotations.models import AppendOnly


class MaskOperation(models.TextChoices):
    MODEL = "model"  # revision 0: the masks the segmentation job produced
    CORRECT = "correct"
    UNDO = "undo"


class MaskRevision(AppendOnly):
    measurement = models.ForeignKey(
        "analysis.BodyCompositionMeasurement", on_delete=models.CASCADE, related_name="revisions"
    )
    revision = models.PositiveIntegerField()
    operation = models.CharField(max_length=8, choices=MaskOperation.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    masks = models.JSONField(default=list, help_text="Every slice's label map after this revision")
    changed = models.JSONField(default=list, help_text="SOP Instance UIDs changed")
    undoes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="undone_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["measurement_id", "revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["measurement", "revision"], name="one_mask_revision_per_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.operation} r{self.revision} of measurement {self.measurement_id}"


class MaskReviewEvent(AppendOnly):
    measurement = models.ForeignKey(
        "analysis.BodyCompositionMeasurement",
        on_delete=models.CASCADE,
        related_name="mask_review_events",
    )
    revision = models.PositiveIntegerField(help_text="The mask revision judged")
    action = models.CharField(max_length=8)  # annotations.models.ReviewAction
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["measurement_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} of measurement {self.measurement_id} r{self.revision}"

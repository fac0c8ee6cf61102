"""Human level labels of a series: one track per labeler, an append-only log of
edits (each keeps the labels it replaced, so undo is exact), and the series'
review state with its append-only decisions."""

from typing import Any

from django.conf import settings
from django.db import models

from annotations.vocabulary import Scheme


class AppendOnly(models.Model):
    """Rows that record history: created once, never changed or deleted here."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError(f"{self._meta.label} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError(f"{self._meta.label} rows are append-only")


class LabelTrack(models.Model):
    """One labeler's levels for one series, a label (or None) per slice in the
    model result's order (superior first). Starts as a copy of the model's
    levels; `revision` counts the edits applied since."""

    series = models.ForeignKey(
        "imaging.Series", on_delete=models.CASCADE, related_name="label_tracks"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    scheme = models.CharField(max_length=16, choices=[(s.value, s.value) for s in Scheme])
    labels = models.JSONField(default=list)
    revision = models.PositiveIntegerField(default=0)
    source_levels = models.ForeignKey(
        "analysis.SeriesLevels",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The model result the track was copied from",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["series_id", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["series", "author"], name="one_track_per_labeler")
        ]

    def __str__(self) -> str:
        return f"Labels of series {self.series_id} by {self.author_id} (r{self.revision})"


class EditOperation(models.TextChoices):
    ASSIGN = "assign"
    UNDO = "undo"


class LabelEdit(AppendOnly):
    """One revision of a track. `previous_labels` are the labels that stood at
    `previous_start`... before this edit (the whole track when the scheme
    changed), so reverting restores them exactly."""

    track = models.ForeignKey(LabelTrack, on_delete=models.CASCADE, related_name="edits")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    revision = models.PositiveIntegerField(help_text="The track revision this edit produced")
    operation = models.CharField(max_length=8, choices=EditOperation.choices)
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField(help_text="Inclusive")
    # None is a label here ("unlabeled"), as in the per-slice JSON lists.
    label = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001
    scheme = models.CharField(max_length=16)
    previous_scheme = models.CharField(max_length=16)
    previous_start = models.PositiveIntegerField()
    previous_labels = models.JSONField(default=list)
    undoes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="undone_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["track_id", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["track", "revision"], name="one_edit_per_revision")
        ]

    def __str__(self) -> str:
        return f"{self.operation} r{self.revision} of track {self.track_id}"


class ReviewStatus(models.TextChoices):
    OPEN = "open"
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    RETURNED = "returned"


class SeriesReview(models.Model):
    """The current review state of a series' labels. Every label write locks
    this row first, so writes on one series happen one at a time."""

    series = models.OneToOneField(
        "imaging.Series", on_delete=models.CASCADE, related_name="label_review"
    )
    status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )
    track = models.ForeignKey(
        LabelTrack, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Review of series {self.series_id}: {self.status}"

    @property
    def locked(self) -> bool:
        return self.status == ReviewStatus.VERIFIED


class ReviewAction(models.TextChoices):
    SUBMIT = "submit"
    VERIFY = "verify"
    RETURN = "return"


class ReviewEvent(AppendOnly):
    """A submission or a reviewer's decision, pinned to the track revision it judged."""

    series = models.ForeignKey(
        "imaging.Series", on_delete=models.CASCADE, related_name="label_review_events"
    )
    track = models.ForeignKey(LabelTrack, on_delete=models.CASCADE, related_name="review_events")
    track_revision = models.PositiveIntegerField()
    action = models.CharField(max_length=8, choices=ReviewAction.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} of track {self.track_id} r{self.track_revision}"

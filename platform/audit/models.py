from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    PROJECT_CREATED = "project_created"
    PROJECT_UPDATED = "project_updated"
    MEMBERSHIP_GRANTED = "membership_granted"
    MEMBERSHIP_REVOKED = "membership_revoked"
    COHORT_CREATED = "cohort_created"
    COHORT_UPDATED = "cohort_updated"
    COHORT_DELETED = "cohort_deleted"
    STUDY_VIEWED = "study_viewed"
    SERIES_VIEWED = "series_viewed"
    IMAGE_ACCESSED = "image_accessed"
    DATA_UPLOADED = "data_uploaded"
    DATA_DOWNLOADED = "data_downloaded"
    JOB_STARTED = "job_started"
    JOB_CANCELLED = "job_cancelled"
    LABELS_EDITED = "labels_edited"
    LABELS_SUBMITTED = "labels_submitted"
    LABELS_REVIEWED = "labels_reviewed"
    DATASET_FROZEN = "dataset_frozen"
    MODEL_PROMOTED = "model_promoted"
    MODEL_ROLLED_BACK = "model_rolled_back"
    TOKEN_ISSUED = "token_issued"  # noqa: S105 (an action name)


class AuditEvent(models.Model):
    """Append-only record of who did what to which object, when and from where.

    No foreign keys on purpose: deleting a user or project must neither cascade
    into nor rewrite the log. Updates and deletes are refused by the model and,
    on PostgreSQL, by a trigger (see migration 0002)."""

    # When it happened: now for events written here, the request's time for
    # events shipped from the edge's access log (imaging.edge_access_log).
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(null=True, db_index=True)
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    project_id = models.BigIntegerField(null=True, db_index=True)
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only")


class LogCursor(models.Model):
    """How far an external access log (the edge's, see imaging.edge_access_log) has
    been shipped into the audit log: the file's inode and the byte offset after the
    last shipped line. Advanced in the same transaction as the shipped rows."""

    path = models.CharField(max_length=512, unique=True)
    inode = models.BigIntegerField(default=0)
    offset = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.path} @ {self.offset}"

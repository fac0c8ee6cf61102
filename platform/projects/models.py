from django.conf import settings
from django.db import models

from projects.roles import Role, default_cross_institution_roles


class ResearchProject(models.Model):
    """A multi-center study protocol that several institutions contribute to."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    institutions = models.ManyToManyField(
        "accounts.Institution", related_name="projects", help_text="Participating centres"
    )
    cross_institution_roles = models.JSONField(
        default=default_cross_institution_roles,
        help_text="Roles that see the studies of every participating institution",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProjectMembership(models.Model):
    """One role of one user in one project; a user may hold several rows."""

    project = models.ForeignKey(
        ResearchProject, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "user__username", "role"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user", "role"], name="unique_project_role")
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} in {self.project}"


class Cohort(models.Model):
    """A named set of a project's studies selected by recorded inclusion criteria."""

    project = models.ForeignKey(ResearchProject, on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    criteria = models.JSONField(default=dict, blank=True)
    studies = models.ManyToManyField("imaging.Study", blank=True, related_name="cohorts")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_cohort_name")
        ]

    def __str__(self) -> str:
        return self.name

from django.contrib.auth.models import AbstractUser
from django.db import models


class Institution(models.Model):
    """A hospital or research centre that contributes data."""

    name = models.CharField(max_length=200, unique=True)
    code = models.SlugField(max_length=32, unique=True, help_text="Short code, e.g. NVH")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person. Staff accounts may have no institution; everyone who takes part
    in a project belongs to one, which owns the studies they upload."""

    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )

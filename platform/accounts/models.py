from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models

from projects.roles import Role


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


class OidcLoginRule(models.Model):
    """Admin rule: a single sign-on user whose claim matches gets this institution
    and project role. Rules are applied at each login; a login matching none is
    refused and creates no account."""

    EMAIL_DOMAIN = "email_domain"

    issuer = models.CharField(
        max_length=300, help_text="The provider's issuer URL, exactly as in its ID tokens"
    )
    claim = models.CharField(
        max_length=100,
        default=EMAIL_DOMAIN,
        help_text="'email_domain' (the verified e-mail's domain) or a claim name, e.g. groups",
    )
    value = models.CharField(
        max_length=300, help_text="Domain or claim value (a list claim matches any element)"
    )
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(
        "projects.ResearchProject",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Project to grant the role in; empty: institution only",
    )
    role = models.CharField(
        max_length=32, blank=True, choices=Role.choices, help_text="Project role to grant"
    )
    priority = models.PositiveIntegerField(
        default=100, help_text="Lower first; the first matching rule sets the institution"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return f"{self.claim}={self.value} -> {self.institution} {self.role}".strip()

    def clean(self) -> None:
        if bool(self.project_id) != bool(self.role):
            raise ValidationError("Give both a project and a role, or neither.")
        if (
            self.project_id
            and not self.project.institutions.filter(pk=self.institution_id).exists()
        ):
            raise ValidationError("The institution does not take part in that project.")


class OidcIdentity(models.Model):
    """Links a provider's subject to one account: users are found by (issuer, sub),
    never by e-mail, so an identity provider cannot take over a local account."""

    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="oidc_identities")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="unique_oidc_subject")
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.subject} -> {self.user}"

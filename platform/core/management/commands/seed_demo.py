"""Demo data for local use: three hospitals, one multi-center project, a user
per role, and printed log-in details. Safe to run again (nothing duplicates)."""

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Institution
from projects import services
from projects.models import ProjectMembership, ResearchProject
from projects.roles import Role

INSTITUTIONS = [
    ("NVH", "North Valley University Hospital", "NO"),
    ("RMC", "Riverside Medical Center", "SE"),
    ("LUH", "Lakeside University Hospital", "DK"),
]
# username, institution, roles
USERS = [
    ("admin_nvh", "NVH", [Role.PROJECT_ADMIN]),
    ("investigator_nvh", "NVH", [Role.INVESTIGATOR]),
    ("labeler_nvh", "NVH", [Role.LABELER]),
    ("reviewer_nvh", "NVH", [Role.REVIEWER]),
    ("analyst_nvh", "NVH", [Role.ANALYST]),
    ("viewer_nvh", "NVH", [Role.VIEWER]),
    ("investigator_rmc", "RMC", [Role.INVESTIGATOR, Role.LABELER]),
    ("reviewer_rmc", "RMC", [Role.REVIEWER]),
    ("outsider_luh", "LUH", []),
]
PROJECT = ("sarcopenia-l3", "Sarcopenia L3 multi-center study")
DEFAULT_PASSWORD = "demo-sarcopenia-2026"  # noqa: S105 (printed demo login, local only)


class Command(BaseCommand):
    help = "Create demo institutions, a multi-center project and one user per role."

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_PASSWORD", DEFAULT_PASSWORD)
        with transaction.atomic():
            institutions = self._institutions()
            users = self._users(institutions, password)
            project = self._project(institutions, users)
        self.stdout.write(self.style.SUCCESS(f"Demo project: {project.name} (id {project.pk})"))
        self.stdout.write(f"Log in at http://127.0.0.1:8000/login/ with password {password!r} as:")
        self.stdout.write("  admin (platform staff, Django admin at /admin/)")
        for username, code, roles in USERS:
            label = ", ".join(roles) if roles else "no project role"
            self.stdout.write(f"  {username:<18} {code}  {label}")

    def _institutions(self) -> dict[str, Institution]:
        found = {}
        for code, name, country in INSTITUTIONS:
            found[code], _ = Institution.objects.get_or_create(
                code=code, defaults={"name": name, "country": country}
            )
        return found

    def _users(self, institutions: dict[str, Institution], password: str) -> dict[str, Any]:
        user_model = get_user_model()
        users = {}
        specs = [("admin", "NVH", []), *USERS]
        for username, code, _ in specs:
            user, created = user_model.objects.get_or_create(
                username=username, defaults={"institution": institutions[code]}
            )
            if created:
                user.set_password(password)
                user.is_staff = user.is_superuser = username == "admin"
                user.save()
            users[username] = user
        return users

    def _project(
        self, institutions: dict[str, Institution], users: dict[str, Any]
    ) -> ResearchProject:
        slug, name = PROJECT
        project = ResearchProject.objects.filter(slug=slug).first()
        if project is None:
            project = services.project_create(
                name=name,
                slug=slug,
                description="Skeletal muscle index at L3 across three centres.",
                institutions=[institutions["NVH"], institutions["RMC"]],
                created_by=users["admin_nvh"],
            )
        for username, _, roles in USERS:
            for role in roles:
                exists = ProjectMembership.objects.filter(
                    project=project, user=users[username], role=role
                ).exists()
                if not exists:
                    services.membership_grant(
                        project=project,
                        user=users[username],
                        role=role,
                        granted_by=users["admin_nvh"],
                    )
        return project

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = "Projects and cohorts"

    def ready(self) -> None:
        from projects.access import forget_accesses
        from projects.models import ProjectMembership, ResearchProject

        # A membership or a project's cross-centre roles changed during a
        # request: its later access checks read them again.
        for model in (ProjectMembership, ResearchProject):
            uid = f"projects.access:{model.__name__}"
            post_save.connect(forget_accesses, sender=model, dispatch_uid=uid)
            post_delete.connect(forget_accesses, sender=model, dispatch_uid=uid)

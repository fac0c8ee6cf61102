from django.contrib import admin

from projects.models import Cohort, ProjectMembership, ResearchProject


class MembershipInline(admin.TabularInline):
    model = ProjectMembership
    fk_name = "project"
    extra = 0
    fields = ["user", "role", "granted_by", "created_at"]
    readonly_fields = ["granted_by", "created_at"]


@admin.register(ResearchProject)
class ResearchProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    filter_horizontal = ["institutions"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "updated_at"]
    list_filter = ["project"]
    readonly_fields = ["studies"]

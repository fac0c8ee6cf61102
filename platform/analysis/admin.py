from django.contrib import admin

from analysis.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["pk", "job_type", "project", "state", "progress", "created_by", "created_at"]
    list_filter = ["state", "job_type", "project"]
    readonly_fields = ["result", "error", "task_id", "attempts"]

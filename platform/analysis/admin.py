from django.contrib import admin

from analysis.models import BodyCompositionMeasurement, Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["pk", "job_type", "project", "state", "progress", "created_by", "created_at"]
    list_filter = ["state", "job_type", "project"]
    readonly_fields = ["result", "error", "task_id", "attempts"]


@admin.register(BodyCompositionMeasurement)
class BodyCompositionMeasurementAdmin(admin.ModelAdmin):
    list_display = ["pk", "series", "level", "status", "smi_cm2_m2", "model_version", "job"]
    list_filter = ["level", "status", "method", "model_version"]
    exclude = ["masks"]
    readonly_fields = [f.name for f in BodyCompositionMeasurement._meta.fields if f.name != "masks"]

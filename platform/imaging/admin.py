from django.contrib import admin

from imaging.models import Series, Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["patient_pseudonym", "project", "institution", "study_date", "modality"]
    list_filter = ["project", "institution", "modality"]


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ["series_instance_uid", "study", "series_number", "slice_count"]

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from annotations.models import LabelEdit, LabelTrack, ReviewEvent, SeriesReview


class ReadOnlyAdmin(admin.ModelAdmin):
    """Labels change only through the API, so history and review stay consistent."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LabelTrack)
class LabelTrackAdmin(ReadOnlyAdmin):
    list_display = ["pk", "series", "author", "scheme", "revision", "updated_at"]
    list_filter = ["scheme"]
    search_fields = ["author__username"]


@admin.register(LabelEdit)
class LabelEditAdmin(ReadOnlyAdmin):
    list_display = ["pk", "track", "revision", "operation", "start", "end", "label", "author"]
    list_filter = ["operation"]


@admin.register(SeriesReview)
class SeriesReviewAdmin(ReadOnlyAdmin):
    list_display = ["series", "status", "track", "actor", "at"]
    list_filter = ["status"]


@admin.register(ReviewEvent)
class ReviewEventAdmin(ReadOnlyAdmin):
    list_display = ["pk", "series", "track", "track_revision", "action", "actor", "created_at"]
    list_filter = ["action"]

"""Read-only REST endpoints of the imaging index (rows come from ingest).
Detail reads of a study are audited as data views."""

from typing import Any

from django_filters import rest_framework as filters
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import AuditAction
from audit.services import audit_record
from imaging import selectors
from imaging.models import Series, Study


class StudySerializer(serializers.ModelSerializer):
    institution = serializers.CharField(source="institution.code", read_only=True)
    series_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Study
        fields = [
            "id",
            "project",
            "institution",
            "study_instance_uid",
            "patient_pseudonym",
            "patient_sex",
            "patient_age_years",
            "patient_height_m",
            "patient_weight_kg",
            "study_date",
            "modality",
            "description",
            "body_part",
            "series_count",
            "created_at",
        ]
        read_only_fields = fields


class StudyFilter(filters.FilterSet):
    institution = filters.CharFilter(field_name="institution__code")
    age_min = filters.NumberFilter(field_name="patient_age_years", lookup_expr="gte")
    age_max = filters.NumberFilter(field_name="patient_age_years", lookup_expr="lte")

    class Meta:
        model = Study
        fields = ["project", "institution", "patient_sex", "modality", "body_part"]


class StudyViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = StudySerializer
    filterset_class = StudyFilter
    ordering_fields = ["created_at", "study_date", "patient_age_years"]

    def get_queryset(self) -> Any:
        return selectors.study_list(user=self.request.user)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        study = self.get_object()
        audit_record(
            action=AuditAction.STUDY_VIEWED,
            actor=request.user,
            obj=study,
            project_id=study.project_id,
            request=request,
        )
        return Response(self.get_serializer(study).data)


class SeriesSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="study.project_id", read_only=True)

    class Meta:
        model = Series
        fields = [
            "id",
            "study",
            "project",
            "series_instance_uid",
            "series_number",
            "modality",
            "description",
            "slice_count",
            "rows",
            "columns",
            "pixel_spacing_mm",
            "slice_thickness_mm",
            "spacing_between_slices_mm",
            "orientation",
            "slice_positions_mm",
            "created_at",
        ]
        read_only_fields = fields


class SeriesFilter(filters.FilterSet):
    project = filters.NumberFilter(field_name="study__project_id")

    class Meta:
        model = Series
        fields = ["study", "project", "modality"]


class SeriesViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = SeriesSerializer
    filterset_class = SeriesFilter

    def get_queryset(self) -> Any:
        return selectors.series_list(user=self.request.user)

"""REST endpoints of the imaging index (read-only: rows come from ingest) and
the upload endpoint. Detail reads of a study are audited as data views."""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditAction
from audit.services import audit_record
from core.fields import VisiblePrimaryKeyField
from imaging import selectors, services
from imaging.ingest import ZIP_MAGIC, FileOutcome, FileStatus, UploadItem
from imaging.models import Series, Study
from imaging.multipart import DicomRelatedParser, MalformedUpload, RelatedUpload, is_related
from projects.access import require
from projects.roles import Capability
from projects.selectors import project_list


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


class UploadSerializer(serializers.Serializer):
    project = VisiblePrimaryKeyField(selector=project_list)
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True), allow_empty=False
    )


class RelatedUploadQuery(serializers.Serializer):
    project = VisiblePrimaryKeyField(selector=project_list)


class UploadView(APIView):
    """Upload DICOM files or zips into a project (investigators): a form
    (multipart/form-data, fields `project` and `files`: the browser page, curl -F)
    or a STOW-style body (multipart/related; type="application/dicom", one file
    per part, `?project=` in the URL: scripts and DICOMweb clients; the faster).
    Answers with a per-file report: 201 if anything new was stored, 200 if all
    were duplicates, 400 if nothing could be stored or the body is malformed,
    413 if the request is over the size cap."""

    parser_classes = [MultiPartParser, DicomRelatedParser]

    @extend_schema(
        request={
            "multipart/form-data": UploadSerializer,
            'multipart/related; type="application/dicom"': OpenApiTypes.BINARY,
        },
        parameters=[
            OpenApiParameter(
                "project", int, description="Target project (multipart/related bodies only)."
            )
        ],
        responses={201: dict, 400: dict},
    )
    def post(self, request: Request) -> Response:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.UPLOAD_MAX_REQUEST_BYTES:
            return Response(
                {"message": f"Upload larger than {settings.UPLOAD_MAX_REQUEST_BYTES} bytes."},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        if is_related(request.content_type):
            return self._post_related(request)
        form = UploadSerializer(
            data={"project": request.data.get("project"), "files": request.FILES.getlist("files")},
            context={"request": request},
        )
        form.is_valid(raise_exception=True)
        project = form.validated_data["project"]
        require(
            request.user,
            Capability.UPLOAD,
            project_id=project.pk,
            institution_id=request.user.institution_id,
        )
        items, oversized = _read_uploads(form.validated_data["files"])
        return _ingest(request, project, items, oversized)

    def _post_related(self, request: Request) -> Response:
        """Who and where are checked before the body is read: a refused upload
        costs no more than its headers."""
        query = RelatedUploadQuery(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        project = query.validated_data["project"]
        require(
            request.user,
            Capability.UPLOAD,
            project_id=project.pk,
            institution_id=request.user.institution_id,
        )
        upload = request.data
        if not isinstance(upload, RelatedUpload):  # DRF skips the parser for an empty body
            raise MalformedUpload("The request has no body (or no Content-Length).")
        try:
            return _ingest(request, project, upload.items(), upload.refused)
        finally:
            upload.close()


def _ingest(
    request: Request, project: Any, items: Iterable[UploadItem], oversized: list[FileOutcome]
) -> Response:
    report = services.upload_ingest(
        project=project, user=request.user, items=items, request=request
    )
    report.files[:0] = oversized
    body = report.as_dict()
    counts = body["counts"]
    if counts["accepted"]:
        return Response(body, status=status.HTTP_201_CREATED)
    if counts["duplicate"]:
        return Response(body, status=status.HTTP_200_OK)
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _read_uploads(files: list[UploadedFile]) -> tuple[list[UploadItem], list[FileOutcome]]:
    """Read uploaded parts, refusing oversized ones before reading them (zips
    may be larger than a single file, up to the request cap)."""
    items, refused = [], []
    for uploaded in files:
        name = (uploaded.name or "unnamed")[:255]
        head = uploaded.read(4)
        cap = (
            settings.UPLOAD_MAX_REQUEST_BYTES
            if head == ZIP_MAGIC
            else settings.UPLOAD_MAX_FILE_BYTES
        )
        if uploaded.size > cap:
            refused.append(
                FileOutcome(
                    name, FileStatus.REJECTED, "too_large", f"File larger than {cap} bytes."
                )
            )
            continue
        items.append(UploadItem(name, head + uploaded.read()))
    return items, refused

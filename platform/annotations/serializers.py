"""Request bodies and response shapes of the label endpoints. Responses are
built by the selectors and passed through these serializers, so the OpenAPI
schema and the payload cannot drift apart."""

from rest_framework import serializers

from annotations.models import ReviewAction, ReviewStatus
from annotations.vocabulary import Scheme

SCHEME_CHOICES = [s.value for s in Scheme]


def _labels() -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(allow_null=True))


class EditIn(serializers.Serializer):
    base_revision = serializers.IntegerField(min_value=0)
    start = serializers.IntegerField(min_value=0)
    end = serializers.IntegerField(min_value=0, help_text="Inclusive")
    label = serializers.CharField(
        allow_null=True, help_text='A level of the scheme, "disc" or null'
    )
    scheme = serializers.ChoiceField(choices=SCHEME_CHOICES, required=False)


class UndoIn(serializers.Serializer):
    base_revision = serializers.IntegerField(min_value=0)


class SubmitIn(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ReviewIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[ReviewAction.VERIFY, ReviewAction.RETURN])
    track = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Null: the track under review"
    )
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Required to return"
    )


class TrackOut(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField()
    scheme = serializers.ChoiceField(choices=SCHEME_CHOICES)
    labels = _labels()
    revision = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ModelResultOut(serializers.Serializer):
    levels_id = serializers.IntegerField()
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    slice_levels = _labels()
    slice_confidence = serializers.ListField(child=serializers.FloatField(allow_null=True))
    ranges = serializers.ListField(child=serializers.DictField())
    flags = serializers.ListField(child=serializers.DictField())
    has_cams = serializers.BooleanField()


class ReviewOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReviewStatus.choices)
    track = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)
    by = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)


class AgreementOut(serializers.Serializer):
    level = serializers.CharField()
    model_vs_human = serializers.FloatField(allow_null=True)
    between_labelers = serializers.FloatField(allow_null=True)
    slices = serializers.IntegerField()


class PermissionsOut(serializers.Serializer):
    label = serializers.BooleanField()
    review = serializers.BooleanField()
    view_images = serializers.BooleanField()


class SeriesLabelsOut(serializers.Serializer):
    series = serializers.IntegerField()
    slice_count = serializers.IntegerField()
    slice_sop_instance_uids = serializers.ListField(child=serializers.CharField())
    slice_positions_mm = serializers.ListField(child=serializers.FloatField())
    model = ModelResultOut(allow_null=True)
    tracks = TrackOut(many=True)
    mine = serializers.IntegerField(allow_null=True)
    review = ReviewOut()
    locked = serializers.BooleanField()
    agreement = AgreementOut(many=True)
    permissions = PermissionsOut()


class HistoryEntryOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["edit", "review"])
    id = serializers.IntegerField()
    track = serializers.IntegerField()
    author = serializers.CharField()
    at = serializers.DateTimeField()
    operation = serializers.ChoiceField(choices=["assign", "undo", *ReviewAction.values])
    start = serializers.IntegerField(allow_null=True)
    end = serializers.IntegerField(allow_null=True)
    label = serializers.CharField(allow_null=True)
    scheme = serializers.CharField(allow_null=True)
    revision = serializers.IntegerField(help_text="Track revision produced (edit) or judged")
    undoes = serializers.IntegerField(allow_null=True, help_text="Revision an undo reverted")
    comment = serializers.CharField(allow_blank=True)


class HistoryOut(serializers.Serializer):
    series = serializers.IntegerField()
    entries = HistoryEntryOut(many=True)

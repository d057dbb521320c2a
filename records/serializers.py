from __future__ import annotations

from typing import Any

import numpy as np
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core.api.serializers import BoundedDateTimeField, StrictBooleanField, StrictSerializer, require_together
from predictions.ml.embedding import EMBEDDING_DIM
from predictions.serializers import ModelChoiceSerializer
from records.models import Record
from records.selectors import DEFAULT_ORDERING, MAX_K, MAX_PAGE_SIZE, ORDERINGS, RecordFilters

LIST_PARAMETERS = ("risk_label", "decision")  # repeated or comma-separated
# Largest magnitude of a query vector's component (embeddings are unit vectors).
VECTOR_LIMIT = 1e6


class RecordFilterSerializer(serializers.Serializer[object]):
    """The list's query parameters; a bad value is a 400 that names the parameter."""

    model = serializers.CharField(required=False, max_length=64)
    model_id = serializers.CharField(required=False, max_length=96)
    risk_label = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    decision = serializers.ListField(
        child=serializers.ChoiceField(choices=["approve", "refer", "decline"]), required=False
    )
    score_min = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    score_max = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    created_after = BoundedDateTimeField(required=False)
    created_before = BoundedDateTimeField(required=False)
    has_outcome = serializers.BooleanField(required=False, default=None)
    outcome = serializers.BooleanField(required=False, default=None)
    segment_feature = serializers.CharField(required=False, max_length=100, help_text="With segment_value")
    segment_value = serializers.CharField(
        required=False, max_length=200, help_text="Records whose segment_feature has this value (booleans: true/false)"
    )
    subject_id = serializers.CharField(required=False, max_length=128, help_text="The client's own reference")
    find = serializers.CharField(required=False, max_length=128, help_text="A record id, request id or subject_id")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        require_together(attrs, "segment_feature", "segment_value", "segment_feature and segment_value go together.")
        low, high = attrs.get("score_min"), attrs.get("score_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"score_max": "Must be at least score_min."})
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after is not None and before is not None and after >= before:
            raise serializers.ValidationError({"created_before": "Must be later than created_after."})
        return attrs

    @staticmethod
    def from_query(query: Any) -> dict[str, Any]:
        data: dict[str, Any] = {key: query.get(key) for key in query if key not in LIST_PARAMETERS}
        for key in LIST_PARAMETERS:
            values = [item for value in query.getlist(key) for item in value.split(",") if item]
            if values:
                data[key] = values
        return data

    def to_filters(self) -> RecordFilters:
        data = self.validated_data
        return RecordFilters(
            model=data.get("model"),
            model_id=data.get("model_id"),
            risk_labels=data.get("risk_label", []),
            decisions=data.get("decision", []),
            score_min=data.get("score_min"),
            score_max=data.get("score_max"),
            created_after=data.get("created_after"),
            created_before=data.get("created_before"),
            has_outcome=data.get("has_outcome"),
            outcome=data.get("outcome"),
            segment=(data["segment_feature"], data["segment_value"]) if "segment_feature" in data else None,
            subject_id=data.get("subject_id"),
            find=data.get("find"),
        )


class RecordListParamsSerializer(RecordFilterSerializer):
    ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False, default=DEFAULT_ORDERING)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=50)
    cursor = serializers.CharField(required=False, max_length=500)


class NearestParamsSerializer(RecordFilterSerializer):
    k = serializers.IntegerField(required=False, min_value=1, max_value=MAX_K, default=10)


class RecordSummarySerializer(serializers.ModelSerializer[Record]):
    class Meta:
        model = Record
        fields = ["id", "timestamp", "model_id", "subject_id", "risk_score", "risk_label", "decision", "outcome"]
        read_only_fields = fields


@extend_schema_serializer(many=False)  # a wrapper object, not a list of them
class RecordPageSerializer(serializers.Serializer[object]):
    next = serializers.CharField(allow_null=True, help_text="URL of the next page, or null")
    previous = serializers.CharField(allow_null=True, help_text="URL of the previous page, or null")
    results = RecordSummarySerializer(many=True)


class RecordDetailSerializer(serializers.ModelSerializer[Record]):
    features = serializers.JSONField(source="features_json")
    embedding = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    outcome_set_by = serializers.SerializerMethodField()

    class Meta:
        model = Record
        fields = [
            "id",
            "timestamp",
            "model_id",
            "features",
            "risk_score",
            "risk_label",
            "base_log_odds",
            "drivers",
            "decision",
            "reasons",
            "protected",
            "embedding",
            "request_id",
            "subject_id",
            "created_by",
            "outcome",
            "outcome_observed_at",
            "outcome_set_by",
        ]
        read_only_fields = fields

    def get_embedding(self, record: Record) -> list[float] | None:
        """The 384 floats only when asked for (``?include=embedding``): every answer used to carry them."""
        if not self.context.get("include_embedding") or record.embedding is None:
            return None
        return [float(x) for x in record.embedding]

    def get_created_by(self, record: Record) -> str | None:
        return record.created_by.username if record.created_by else None

    def get_outcome_set_by(self, record: Record) -> str | None:
        return record.outcome_set_by.username if record.outcome_set_by else None


class NeighbourSerializer(serializers.Serializer[object]):
    id = serializers.UUIDField()
    distance = serializers.FloatField(help_text="Cosine distance (0 = same direction)")
    risk_score = serializers.FloatField()
    risk_label = serializers.CharField()
    decision = serializers.CharField(help_text="approve, refer or decline; empty if scored before decisions")
    outcome = serializers.BooleanField(allow_null=True)
    timestamp = serializers.DateTimeField()


class NearestResultSerializer(serializers.Serializer[object]):
    model_id = serializers.CharField()
    results = NeighbourSerializer(many=True)


class NearestQuerySerializer(ModelChoiceSerializer):
    """Either ``{"model" or "model_id", "features"}`` (embedded on the fly, not stored) or ``{"model"
    or "model_id", "vector"}``."""

    features = serializers.DictField(required=False)
    vector = serializers.ListField(
        child=serializers.FloatField(min_value=-VECTOR_LIMIT, max_value=VECTOR_LIMIT),
        required=False,
        min_length=EMBEDDING_DIM,
        max_length=EMBEDDING_DIM,
        help_text="Any non-zero direction; it is normalised (cosine distance)",
    )
    k = serializers.IntegerField(required=False, min_value=1, max_value=MAX_K, default=10)

    def validate_vector(self, value: list[float]) -> np.ndarray:
        """The unit vector in the direction of ``value`` (scaled first, so tiny components do not underflow)."""
        vector = np.asarray(value, dtype=np.float64)
        scale = float(np.abs(vector).max())
        if scale == 0:
            raise serializers.ValidationError("Must not be all zero: a zero vector has no direction.")
        vector = vector / scale
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        attrs = super().validate(attrs)
        if ("features" in attrs) == ("vector" in attrs):
            raise serializers.ValidationError({"features": "Give exactly one of 'features' or 'vector'."})
        return attrs


class OutcomeSerializer(StrictSerializer):
    outcome = StrictBooleanField()
    observed_at = BoundedDateTimeField(required=False, allow_null=True, default=None)

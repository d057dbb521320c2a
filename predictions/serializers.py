from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core.api.serializers import StrictCharField, StrictSerializer
from predictions.models import ModelVersion


class FeatureSchemaField(serializers.JSONField):
    """The stored schema as the current code reads it (so older versions show what they now accept)."""

    def to_representation(self, value: Any) -> Any:  # DRF's stubs type a JSONField's value as a string
        from predictions.ml.features import schema_from_dicts, schema_to_dicts  # the ML stack loads lazily

        return schema_to_dicts(schema_from_dicts(value or []))


class EffectivePolicyField(serializers.JSONField):
    """The version's decision policy: the stored one, or for an older version the one its label
    bands give (what it decides with)."""

    def get_attribute(self, instance: ModelVersion) -> Any:  # the version itself, not one of its JSON columns
        return instance

    def to_representation(self, value: Any) -> Any:  # the version, from get_attribute
        from predictions.ml.decisions import policy_get

        return policy_get(value.decision_policy, value.label_bands).to_dict()


class EffectiveReasonsField(serializers.JSONField):
    """The version's reason table: the stored one, or for an older version the one built from its
    schema's descriptions (what it gives reasons with)."""

    def get_attribute(self, instance: ModelVersion) -> Any:  # the version itself, not one of its JSON columns
        return instance

    def to_representation(self, value: Any) -> Any:  # the version, from get_attribute
        from predictions.ml.decisions import reason_table_build
        from predictions.ml.features import schema_from_dicts

        if value.reason_table:
            return value.reason_table
        return [family.to_dict() for family in reason_table_build(schema_from_dicts(value.feature_schema))]


def _policy_field() -> EffectivePolicyField:
    return EffectivePolicyField(read_only=True, help_text="approve below refer_at; decline from decline_at")


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    model_id = serializers.CharField(read_only=True)
    feature_schema = FeatureSchemaField(read_only=True)
    protected_schema = FeatureSchemaField(read_only=True)
    decision_policy = _policy_field()
    reason_table = EffectiveReasonsField(read_only=True, help_text="[{code, sentence, features}]")
    created_by: serializers.SlugRelatedField[ModelVersion] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = ModelVersion
        fields = [
            "model_id",
            "name",
            "version",
            "status",
            "algorithm",
            "embedder",
            "target",
            "positive_class",
            "feature_schema",
            "protected_schema",
            "label_bands",
            "decision_policy",
            "reason_table",
            "metrics",
            "training_sha256",
            "training_rows",
            "artifact_sha256",
            "created_at",
            "created_by",
            "promoted_at",
            "notes",
        ]
        read_only_fields = fields


class ModelMetadataSerializer(serializers.ModelSerializer[ModelVersion]):
    """What a client (or the UI's form) needs to call a model: its production version's contract."""

    model_id = serializers.CharField(read_only=True)
    feature_schema = FeatureSchemaField(read_only=True)
    protected_schema = FeatureSchemaField(
        read_only=True, help_text="Protected attributes a request may send under 'protected'; never scored"
    )
    decision_policy = _policy_field()
    reason_table = EffectiveReasonsField(read_only=True, help_text="[{code, sentence, features}]")

    class Meta:
        model = ModelVersion
        fields = [
            "name",
            "model_id",
            "version",
            "algorithm",
            "embedder",
            "target",
            "positive_class",
            "feature_schema",
            "protected_schema",
            "label_bands",
            "decision_policy",
            "reason_table",
            "metrics",
            "promoted_at",
        ]
        read_only_fields = fields


class ModelSummarySerializer(serializers.Serializer[object]):
    name = serializers.CharField()
    production = serializers.CharField(allow_null=True, help_text="model_id of the production version")
    versions = ModelVersionSerializer(many=True)


class ModelChoiceSerializer(StrictSerializer):
    """A body that names a model (its production version) or a model_id: exactly one of the two."""

    model = serializers.CharField(required=False, max_length=64, help_text="Registry name; its production version")
    model_id = serializers.CharField(required=False, max_length=96, help_text="A specific version: name@version")

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if bool(attrs.get("model")) == bool(attrs.get("model_id")):
            raise serializers.ValidationError(
                {"model": "Give exactly one of 'model' (a name) or 'model_id' (name@version)."}
            )
        return attrs


PROTECTED_HELP = (
    "Protected attribute -> value, as in the model's protected_schema (optional): stored with the record for "
    "fairness monitoring, never used for the score, the embedding or similar cases"
)


class PredictRequestSerializer(ModelChoiceSerializer):
    features = serializers.DictField(help_text="Feature name -> value, as in the model's feature_schema")
    protected = serializers.DictField(required=False, help_text=PROTECTED_HELP)
    subject_id = StrictCharField(
        required=False,
        allow_blank=False,
        max_length=128,
        help_text="The applicant's stable key: a canary sends the same applicant to the same version. "
        "Without it, the canonical features are the key.",
    )


class BatchItemSerializer(StrictSerializer):
    features = serializers.DictField()
    protected = serializers.DictField(required=False, help_text=PROTECTED_HELP)
    subject_id = StrictCharField(
        required=False,
        allow_blank=False,
        max_length=128,
        help_text="The applicant's stable key: a canary sends the same applicant to the same version. "
        "Without it, the canonical features are the key.",
    )


class BatchRequestSerializer(ModelChoiceSerializer):
    items = BatchItemSerializer(many=True, allow_empty=False)

    def validate_items(self, items: list[dict[str, object]]) -> list[dict[str, object]]:
        from django.conf import settings

        if len(items) > settings.PREDICT_BATCH_MAX:
            raise serializers.ValidationError(
                f"At most {settings.PREDICT_BATCH_MAX} items per batch, got {len(items)}."
            )
        return items


class DriverSerializer(serializers.Serializer[object]):
    feature = serializers.CharField()
    value = serializers.JSONField(allow_null=True)
    contribution = serializers.FloatField(help_text="Log-odds contribution (exact SHAP value)")


class ReasonSerializer(serializers.Serializer[object]):
    code = serializers.CharField(help_text="The reason's code in the model's reason_table")
    sentence = serializers.CharField(help_text="The principal reason, in words an applicant can read")
    features = serializers.ListField(child=serializers.CharField(), help_text="The features it sums")
    contribution = serializers.FloatField(help_text="How much they raised the log-odds of risk, together")


DECISION_HELP = "approve, refer (to a person) or decline, by the version's decision_policy"
REASONS_HELP = "For a refer or decline: up to four principal reasons, the largest risk-raising first; [] on approve"


class PredictionSerializer(serializers.Serializer[object]):
    record_id = serializers.UUIDField(allow_null=True, help_text="null for a dry run (?dry_run=true): nothing stored")
    model_id = serializers.CharField()
    risk_score = serializers.FloatField(help_text="Probability of the positive class")
    risk_label = serializers.CharField()
    base_log_odds = serializers.FloatField()
    drivers = DriverSerializer(many=True, help_text="Sorted by |contribution|; base + sum = model log-odds")
    decision = serializers.ChoiceField(choices=["approve", "refer", "decline"], help_text=DECISION_HELP)
    reasons = ReasonSerializer(many=True, help_text=REASONS_HELP)
    served_by = serializers.ChoiceField(
        choices=["champion", "canary", "pinned"],
        help_text="Why this version served: the name's champion, its canary challenger, or the model_id asked for",
    )
    created_at = serializers.DateTimeField()
    request_id = serializers.CharField()
    subject_id = serializers.CharField(help_text="The reference the client sent (empty if none)")


class BatchPredictionSerializer(serializers.Serializer[object]):
    model_id = serializers.CharField(help_text="The champion (or pinned version); each result names its own")
    request_id = serializers.CharField()
    results = PredictionSerializer(many=True)


@extend_schema_serializer(many=False)  # a wrapper object, not a list of them
class MetadataResponseSerializer(serializers.Serializer[object]):
    models = ModelMetadataSerializer(many=True)
    batch_max = serializers.IntegerField(help_text="The most items one POST /api/predict/batch/ takes.")


@extend_schema_serializer(many=False)  # a wrapper object, not a list of them
class ModelListResponseSerializer(serializers.Serializer[object]):
    results = ModelVersionSerializer(many=True)

from __future__ import annotations

from rest_framework import serializers

from predictions.models import ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    model_id = serializers.CharField(read_only=True)
    created_by: serializers.SlugRelatedField[ModelVersion] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
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
            "label_bands",
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
            "label_bands",
            "metrics",
            "promoted_at",
        ]
        read_only_fields = fields


class ModelSummarySerializer(serializers.Serializer[dict]):
    name = serializers.CharField()
    production = serializers.CharField(allow_null=True, help_text="model_id of the production version")
    versions = ModelVersionSerializer(many=True)

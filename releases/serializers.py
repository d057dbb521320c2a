"""Release API shapes: the state of a name, its timeline and gate results, and the action bodies."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core.api.serializers import StrictBooleanField, StrictSerializer
from releases.models import ReleaseEvent, Validation


class GateSerializer(serializers.Serializer[object]):
    gate = serializers.CharField()
    set = serializers.CharField(help_text="What it was judged on: holdout, labelled, the last 30 days, one row")
    value = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField()
    passed = serializers.BooleanField(allow_null=True, help_text="null: too little data to judge")
    detail = serializers.CharField()


class ValidationSerializer(serializers.ModelSerializer[Validation]):
    model_id = serializers.CharField(source="model_version.model_id")
    champion_id = serializers.CharField(source="champion.model_id", allow_null=True, default=None)
    gates = GateSerializer(many=True)

    class Meta:
        model = Validation
        fields = ["id", "model_id", "champion_id", "scope", "passed", "gates", "created_at"]


class ReleaseEventSerializer(serializers.ModelSerializer[ReleaseEvent]):
    model_id = serializers.CharField(source="model_version.model_id", allow_null=True, default=None)
    champion_id = serializers.CharField(source="champion.model_id", allow_null=True, default=None)
    by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    validation_passed = serializers.BooleanField(source="validation.passed", allow_null=True, default=None)
    evidence = serializers.JSONField()

    class Meta:
        model = ReleaseEvent
        fields = [
            "id", "action", "model_id", "champion_id", "mode", "percent", "reason", "forced", "validation_passed",
            "evidence", "by", "created_at",
        ]  # fmt: skip


@extend_schema_serializer(many=False)  # one object, though served by the viewset's list action
class ReleaseStateSerializer(serializers.Serializer[object]):
    name = serializers.CharField()
    champion = serializers.CharField(allow_null=True, help_text="The production version")
    challenger = serializers.CharField(allow_null=True)
    mode = serializers.ChoiceField(choices=["none", "shadow", "canary"])
    percent = serializers.FloatField(help_text="The canary's share of applicants")
    ramp = serializers.ListField(child=serializers.FloatField())
    gates = serializers.DictField(help_text="Every gate's threshold (defaults, with this name's overrides)")
    validation = ValidationSerializer(
        allow_null=True, help_text="The challenger's latest validation (without one: the name's latest)"
    )
    events = ReleaseEventSerializer(many=True, help_text="The timeline, newest first (at most 50)")


class ReleaseActionSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, help_text="Why; recorded on the timeline")


class VersionActionSerializer(ReleaseActionSerializer):
    model_id = serializers.CharField(max_length=96, help_text="name@version, of this name")


class ValidateSerializer(StrictSerializer):
    model_id = serializers.CharField(max_length=96, help_text="name@version, of this name")


class CanarySerializer(VersionActionSerializer):
    percent = serializers.FloatField(
        required=False, min_value=0.01, max_value=100, help_text="Default: the ramp's first step"
    )
    force = StrictBooleanField(default=False, help_text="Even if its gates failed (superusers)")


class PolicySerializer(StrictSerializer):
    refer_at = serializers.FloatField(min_value=0.0, max_value=1.0, help_text="Scores from here are referred")
    decline_at = serializers.FloatField(min_value=0.0, max_value=1.0, help_text="Scores from here are declined")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not 0 < attrs["refer_at"] <= attrs["decline_at"]:
            raise serializers.ValidationError({"refer_at": "Must be above 0 and at most decline_at."})
        return attrs


class PromoteSerializer(VersionActionSerializer):
    force = StrictBooleanField(default=False, help_text="Even if its gates failed (superusers)")
    decision_policy = PolicySerializer(
        required=False,
        help_text="A new decision policy, for a version with no records yet (validated again before promotion)",
    )

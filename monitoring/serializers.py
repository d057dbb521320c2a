"""The monitoring API's query parameters and responses (thin: the numbers come from the selectors)."""

from __future__ import annotations

import math
from dataclasses import asdict, is_dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core.api.serializers import require_together
from core.types import JSON, JSONObject
from monitoring.models import Alert
from monitoring.selectors.drift import Segment
from monitoring.selectors.outcomes import FairnessReport

MAX_WINDOW_DAYS = 366
DRIFT_STATUSES = ["stable", "warning", "critical", "too_few"]
PERFORMANCE_STATUSES = ["judged", "too_few"]
ALERT_STATUS_FILTER = [*Alert.Status.values, "unresolved"]
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2999, 12, 31)


def plain(value: object) -> JSON:
    """A report (dataclasses, dates, floats) as JSON-ready data; NaN and infinities become null."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):  # a numpy scalar from the statistics
        return plain(value.item())
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"{type(value).__name__} is not part of a report")


def plain_object(value: object) -> JSONObject:
    """A report (a dataclass or a dict) as a JSON object."""
    data = plain(value)
    if not isinstance(data, dict):
        raise TypeError(f"{type(value).__name__} is not an object")
    return data


class BoundedDateField(serializers.DateField):
    def to_internal_value(self, value: Any) -> date:
        parsed: date = super().to_internal_value(value)
        if not EARLIEST_DAY <= parsed <= LATEST_DAY:
            raise serializers.ValidationError("Must be a date in the years 1900 to 2999.")
        return parsed


class DaysParamsSerializer(serializers.Serializer[object]):
    """[start, end) in UTC days; ``end`` defaults to tomorrow, ``start`` to ``default_days`` before."""

    default_days = 7

    start = BoundedDateField(required=False)
    end = BoundedDateField(required=False, help_text="Exclusive")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end") or timezone.now().date() + timedelta(days=1)
        start = attrs.get("start") or max(EARLIEST_DAY, end - timedelta(days=self.default_days))
        if start >= end:
            raise serializers.ValidationError({"end": "Must be later than start."})
        if (end - start).days > MAX_WINDOW_DAYS:
            raise serializers.ValidationError({"start": f"The window is at most {MAX_WINDOW_DAYS} days."})
        attrs.update(start=start, end=end)
        return attrs


class WindowParamsSerializer(DaysParamsSerializer):
    """A window of days, and optionally one segment (a feature's value)."""

    segment_feature = serializers.CharField(required=False, max_length=100)
    segment_value = serializers.CharField(required=False, max_length=200)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        require_together(attrs, "segment_feature", "segment_value", "segment_feature and segment_value go together.")
        return attrs

    @property
    def segment(self) -> Segment | None:
        data = self.validated_data
        if "segment_feature" not in data:
            return None
        return Segment(feature=data["segment_feature"], value=data["segment_value"])


class DriftParamsSerializer(WindowParamsSerializer):
    against_start = BoundedDateField(required=False, help_text="Compare against this window instead of the reference")
    against_end = BoundedDateField(required=False, help_text="Exclusive")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        require_together(attrs, "against_start", "against_end", "Give both or neither.")
        low, high = attrs.get("against_start"), attrs.get("against_end")
        if low is not None and high is not None:
            if low >= high:
                raise serializers.ValidationError({"against_end": "Must be later than against_start."})
            if (high - low).days > MAX_WINDOW_DAYS:
                raise serializers.ValidationError({"against_start": f"At most {MAX_WINDOW_DAYS} days."})
        return attrs


class PerformanceParamsSerializer(WindowParamsSerializer):
    default_days = 90
    step = serializers.IntegerField(required=False, min_value=1, max_value=MAX_WINDOW_DAYS, default=7)


class AlertListParamsSerializer(serializers.Serializer[object]):
    status = serializers.ChoiceField(required=False, choices=ALERT_STATUS_FILTER)
    model = serializers.CharField(required=False, max_length=100)


# --- Responses ------------------------------------------------------------------------------


def _number(help_text: str = "null when undefined (no records, or one class only)") -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class ComparisonSerializer(serializers.Serializer[object]):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["number", "integer", "category", "boolean", "score", "label"])
    bins = serializers.ListField(child=serializers.CharField())
    window = serializers.ListField(child=serializers.IntegerField())
    baseline = serializers.ListField(child=serializers.IntegerField())
    psi = serializers.FloatField()
    js_distance = _number()
    p_value = serializers.FloatField(
        allow_null=True, help_text="chi2 or binned KS, for information only; null if undefined"
    )
    test = serializers.ChoiceField(choices=["chi2", "ks"])
    status = serializers.ChoiceField(choices=DRIFT_STATUSES)


class DriftReportSerializer(serializers.Serializer[object]):
    model_id = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    baseline = serializers.CharField(help_text='"reference" or "start..end"')
    records = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DRIFT_STATUSES)
    features = ComparisonSerializer(many=True)
    score = ComparisonSerializer()

    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]  # as DRF's own stubs declare it  # "label" would shadow Field.label
        return {**super().get_fields(), "label": ComparisonSerializer()}


class AttributionPartSerializer(serializers.Serializer[object]):
    name = serializers.CharField()
    reference_mean_shap = serializers.FloatField()
    window_mean_shap = _number()
    delta = _number()
    share = _number()
    psi = serializers.FloatField()
    drift_impact = serializers.FloatField()


class AttributionReportSerializer(serializers.Serializer[object]):
    model_id = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    records = serializers.IntegerField()
    reference_mean_log_odds = serializers.FloatField()
    window_mean_log_odds = _number()
    shift = _number()
    parts = AttributionPartSerializer(many=True)


class BandSerializer(serializers.Serializer[object]):
    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]  # as DRF's own stubs declare it  # "label" would shadow Field.label
        return {"label": serializers.CharField(), **super().get_fields()}

    outcomes = serializers.IntegerField()
    expected_rate = _number()
    observed_rate = _number()


class CalibrationBinSerializer(serializers.Serializer[object]):
    n = serializers.FloatField()
    mean_score = serializers.FloatField()
    observed_rate = serializers.FloatField()


class PerformanceSerializer(serializers.Serializer[object]):
    start = serializers.DateField()
    end = serializers.DateField()
    records = serializers.IntegerField()
    outcomes = serializers.IntegerField()
    coverage = _number()
    status = serializers.ChoiceField(choices=PERFORMANCE_STATUSES)
    auc = _number()
    auc_low = _number()
    auc_high = _number()
    auc_cell_bound = _number()
    brier = _number()
    log_loss = _number()
    ece = _number()
    expected_rate = _number()
    observed_rate = _number()
    calibration_in_the_large = _number()
    waiting = serializers.IntegerField()
    waiting_expected_rate = serializers.FloatField(
        allow_null=True, help_text="Mean score of the records still waiting: assumes no concept drift"
    )
    bands = BandSerializer(many=True)
    reliability = CalibrationBinSerializer(many=True)


class SegmentSerializer(serializers.Serializer[object]):
    feature = serializers.CharField()
    value = serializers.CharField()


class PerformanceReportSerializer(serializers.Serializer[object]):
    model_id = serializers.CharField()
    segment = SegmentSerializer(allow_null=True)
    overall = PerformanceSerializer()
    series = PerformanceSerializer(many=True)


class SegmentScoreSerializer(serializers.Serializer[object]):
    feature = serializers.CharField()
    value = serializers.CharField()
    records = serializers.IntegerField()
    psi = serializers.FloatField()
    p_value = _number()
    q_value = _number()
    status = serializers.ChoiceField(choices=DRIFT_STATUSES)
    flagged = serializers.BooleanField()


class SegmentScanSerializer(serializers.Serializer[object]):
    model_id = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    segments = SegmentScoreSerializer(many=True)


class AlertSerializer(serializers.ModelSerializer[Alert]):
    model_id = serializers.CharField(source="model_version.model_id")
    metric = serializers.CharField(source="rule.metric")
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True, default=None)
    resolved_by = serializers.CharField(
        source="resolved_by.username", allow_null=True, default=None, help_text="null when it recovered by itself"
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "model_id",
            "metric",
            "severity",
            "status",
            "value",
            "threshold",
            "window_start",
            "window_end",
            "message",
            "opened_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
        ]


@extend_schema_serializer(many=False)  # a wrapper object, not a list of them
class AlertListSerializer(serializers.Serializer[object]):
    results = AlertSerializer(many=True)


class ModelStatusSerializer(serializers.Serializer[object]):
    name = serializers.CharField()
    model_id = serializers.CharField()
    status = serializers.ChoiceField(choices=DRIFT_STATUSES)
    records = serializers.IntegerField(help_text="Records in the last 7 days")
    open_alerts = serializers.IntegerField()


@extend_schema_serializer(many=False)  # a wrapper object, not a list of them
class OverviewSerializer(serializers.Serializer[object]):
    start = serializers.DateField()
    end = serializers.DateField()
    models = ModelStatusSerializer(many=True)


class FairnessParamsSerializer(DaysParamsSerializer):
    """[start, end) in UTC days; ``end`` defaults to tomorrow, ``start`` to 30 days before."""

    default_days = 30


class GroupFairnessSerializer(serializers.Serializer[object]):
    value = serializers.CharField(help_text="The group: the attribute's value (booleans as true/false)")
    records = serializers.IntegerField(help_text="Decided records in the window")
    approved = serializers.IntegerField()
    approval_rate = _number()
    ratio = _number(help_text="Approval rate over the most favoured group's (adverse impact ratio)")
    ratio_low = _number(help_text="95 % Katz log interval")
    ratio_high = _number()
    outcomes = serializers.IntegerField()
    positives = serializers.IntegerField(help_text="Outcomes where the risk happened")
    tpr = _number(help_text="Positive outcomes not approved, over positive outcomes")
    fpr = _number(help_text="Negative outcomes not approved, over negative outcomes")
    judged = serializers.BooleanField(help_text="Enough records (30) to count in the ratio")


class AttributeFairnessSerializer(serializers.Serializer[object]):
    attribute = serializers.CharField()
    status = serializers.ChoiceField(choices=["ok", "warning", "too_few"], help_text="warning: below four fifths")
    reference = serializers.CharField(allow_null=True, help_text="The most favoured group")
    worst = serializers.CharField(allow_null=True)
    adverse_impact_ratio = _number()
    air_low = _number()
    air_high = _number()
    tpr_gap = _number(help_text="Largest minus smallest TPR, groups with 20 positive outcomes or more")
    fpr_gap = _number(help_text="Largest minus smallest FPR, groups with 20 negative outcomes or more")
    groups = GroupFairnessSerializer(many=True)


class FairnessReportSerializer(serializers.Serializer[object]):
    model_id = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    decided = serializers.IntegerField()
    attributes = AttributeFairnessSerializer(many=True)


def fairness_body(report: FairnessReport) -> JSONObject:
    """A FairnessReport as the serializer's data (each group's counts flattened, statuses added)."""
    attributes: list[JSON] = []
    for attribute in report.attributes:
        groups: list[JSON] = [{**plain_object(g), **plain_object(g.counts)} for g in attribute.groups]
        for group in groups:
            assert isinstance(group, dict)
            group.pop("counts")
        attributes.append({**plain_object(attribute), "status": attribute.status, "groups": groups})
    return {**plain_object(report), "attributes": attributes}

"""Monitoring reads: the value of an alert rule's metric over a window, and the alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import QuerySet

from monitoring import fairness
from monitoring.models import Alert
from monitoring.selectors.drift import DriftReport, drift_report
from monitoring.selectors.outcomes import FairnessReport, PerformanceReport, fairness_report, performance_report
from predictions.models import ModelVersion

# Metrics where a lower value is worse (the others breach upwards).
LOWER_IS_WORSE = frozenset({"auc", "adverse_impact"})
FAIRNESS_METRICS = frozenset({"adverse_impact", "tpr_gap", "fpr_gap"})


def _fairness_metric(metric: str, report: FairnessReport) -> tuple[float, int]:
    """The worst attribute's value of a fairness metric, and the records (or outcomes) behind it."""
    if metric == "adverse_impact":
        worst = fairness.worst_ratio(report.attributes)
        return (worst.adverse_impact_ratio if worst else float("nan")), report.decided
    values = [getattr(a, metric) for a in report.attributes if getattr(a, metric) == getattr(a, metric)]
    return (max(values) if values else float("nan")), report.outcomes


@dataclass(frozen=True)
class MetricValue:
    value: float
    n: int  # records (drift metrics) or outcomes (performance metrics) behind it
    enough: bool  # n reached the rule's minimum and the value is defined


Window = tuple[int, date, date]  # (model version, start, end)


@dataclass
class ReportCache:
    """The reports of the windows judged so far: the rules of a model share them."""

    drift: dict[Window, DriftReport] = field(default_factory=dict)
    performance: dict[Window, PerformanceReport] = field(default_factory=dict)
    fairness: dict[Window, FairnessReport] = field(default_factory=dict)


def alert_metric(
    *,
    metric: str,
    model_version: ModelVersion,
    start: date,
    end: date,
    min_records: int,
    reports: ReportCache | None = None,
) -> MetricValue:
    """The value a rule's metric takes over [start, end). ``reports`` keeps the reports across
    calls, so the rules sharing a window compute it once."""
    reports = ReportCache() if reports is None else reports
    key = (model_version.pk, start, end)
    if metric in FAIRNESS_METRICS:
        if key not in reports.fairness:
            reports.fairness[key] = fairness_report(model_version=model_version, start=start, end=end)
        value, n = _fairness_metric(metric, reports.fairness[key])
    elif metric in ("auc", "ece"):
        if key not in reports.performance:
            reports.performance[key] = performance_report(
                model_version=model_version, start=start, end=end, step=(end - start).days
            )
        figures = reports.performance[key].overall
        value, n = (figures.auc if metric == "auc" else figures.ece), figures.outcomes
    else:
        if key not in reports.drift:
            reports.drift[key] = drift_report(model_version=model_version, start=start, end=end)
        drift = reports.drift[key]
        if metric == "feature_psi":
            value = max((c.psi for c in drift.features), default=float("nan"))
        else:
            value = (drift.score if metric == "score_psi" else drift.label).psi  # type: ignore[union-attr]  # always set
        n = drift.records
    return MetricValue(value=value, n=n, enough=n >= min_records and value == value)


def alert_list(*, status: str | None = None, model_name: str | None = None) -> QuerySet[Alert]:
    alerts = Alert.objects.select_related("rule", "model_version", "acknowledged_by", "resolved_by").order_by(
        "-opened_at", "-id"
    )
    if status == "unresolved":
        alerts = alerts.exclude(status=Alert.Status.RESOLVED)
    elif status:
        alerts = alerts.filter(status=status)
    if model_name:
        alerts = alerts.filter(rule__model_name=model_name)
    return alerts

"""Monitoring reads: drift and attribution drift for any window, from the daily rollups."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import QuerySet, Sum

from core.errors import ApplicationError
from monitoring import fairness, stats
from monitoring.binning import BRIER_SQL, CELL_SQL, DAY_SQL, LOG_LOSS_SQL, bins_sql
from monitoring.models import Alert, BinDay, DayTotal, ShapDay
from predictions.models import ModelVersion


@dataclass
class Comparison:
    """One feature (or the score, or the label) in the window against its baseline."""

    name: str
    kind: str  # number, integer, category, boolean, score, label
    bins: list[str]
    window: list[int]
    baseline: list[int]
    psi: float
    js_distance: float
    p_value: float
    test: str  # the p-value's test: "chi2" or "ks" (for information only)
    status: str


@dataclass
class DriftReport:
    model_id: str
    start: date
    end: date  # exclusive
    baseline: str  # "reference" or "start..end"
    records: int
    status: str
    features: list[Comparison] = field(default_factory=list)
    score: Comparison | None = None
    label: Comparison | None = None


@dataclass(frozen=True)
class Segment:
    """Records whose categorical (or boolean) feature has one value."""

    feature: str
    value: str


def bin_names(item: dict[str, Any], kind: str) -> list[str]:
    """Readable bin names: value ranges, choices (then other, missing), or labels."""
    if kind == "label":
        return list(item["labels"])
    if kind == "category":
        return [*item["choices"], "other", "missing"]
    if kind == "boolean":
        return ["false", "true", "other", "missing"]
    edges = item["edges"]
    if len(edges) <= 2:
        names = ["all"]
    else:
        inner = edges[1:-1]
        names = [f"< {inner[0]:g}"] + [f"{a:g} to < {b:g}" for a, b in itertools.pairwise(inner)]
        names.append(f">= {inner[-1]:g}")
    return names if kind == "score" else [*names, "missing"]


def window_counts(*, model_version: ModelVersion, start: date, end: date) -> dict[int, dict[int, int]]:
    """Counts per profile feature index and bin, summed over the days in [start, end)."""
    rows = (
        BinDay.objects.filter(model_version=model_version, day__gte=start, day__lt=end)
        .values("feature", "bin")
        .annotate(total=Sum("count"))
    )
    out: dict[int, dict[int, int]] = {}
    for row in rows:
        out.setdefault(row["feature"], {})[row["bin"]] = int(row["total"])
    return out


def _compare(name: str, kind: str, item: dict[str, Any], window: list[int], baseline: list[int], n: int) -> Comparison:
    value = stats.psi(window, baseline)
    ordered = kind in ("number", "integer", "score")
    if ordered:  # the KS test runs on the ordered bins only, not on the missing bin
        cut = len(window) - (kind != "score")
        p_value = stats.binned_ks_p_value(window[:cut], baseline[:cut])
    else:
        p_value = stats.chi2_p_value(window, baseline)
    return Comparison(
        name=name,
        kind=kind,
        bins=bin_names(item, kind),
        window=window,
        baseline=baseline,
        psi=value,
        js_distance=stats.js_distance(window, baseline),
        p_value=p_value,
        test="ks" if ordered else "chi2",
        status=stats.psi_status(value, n),
    )


def _as_list(counts: dict[int, int], size: int) -> list[int]:
    return [counts.get(b, 0) for b in range(size)]


class MonitoringQueryError(ApplicationError):
    """A window, segment or baseline that cannot be judged; the message names the field."""

    code = "invalid_monitoring_query"


def _segment_counts(
    *, model_version: ModelVersion, start: date, end: date, segment: Segment
) -> dict[int, dict[int, int]]:
    """The bin counts of one segment's records in [start, end), read from the records (the
    rollups have no cross-tabulation)."""
    params: dict[str, Any] = {"v": model_version.pk, "start": start, "end": end}
    bins = bins_sql(model_version.reference_profile, params)
    params.update(sf=segment.feature, sv=segment.value)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.i - 1, u.bin, count(*) FROM (SELECT {bins} AS bins {_SEGMENT_RECORDS}) b, "
            "unnest(b.bins) WITH ORDINALITY AS u(bin, i) WHERE u.bin IS NOT NULL GROUP BY 1, 2",
            params,
        )
        rows = cursor.fetchall()
    out: dict[int, dict[int, int]] = {}
    for feature, bin_, count in rows:
        out.setdefault(feature, {})[bin_] = int(count)
    return out


def segment_feature_check(*, model_version: ModelVersion, segment: Segment) -> None:
    if segment.feature not in model_version.reference_profile.get("segments", {}):
        raise MonitoringQueryError(
            f"segment feature {segment.feature[:100]!r} is not a category or boolean feature of "
            f"{model_version.model_id}",
            fields={"segment": "not a category or boolean feature"},
        )


def segment_check(*, model_version: ModelVersion, segment: Segment) -> dict[str, Any]:
    """The segment's reference counts; raises if the feature is not categorical or training never
    saw the value."""
    segments = model_version.reference_profile.get("segments", {})
    segment_feature_check(model_version=model_version, segment=segment)
    reference: dict[str, Any] | None = segments[segment.feature].get(segment.value)
    if reference is None:
        raise MonitoringQueryError(
            f"segment {segment.feature}={segment.value[:100]!r}: training had no such rows; compare against a window",
            fields={"segment": "no reference rows for this value"},
        )
    return reference


def _counts_for(
    model_version: ModelVersion, window: tuple[date, date], segment: Segment | None
) -> dict[int, dict[int, int]]:
    if segment is None:
        return window_counts(model_version=model_version, start=window[0], end=window[1])
    return _segment_counts(model_version=model_version, start=window[0], end=window[1], segment=segment)


def drift_report(
    *,
    model_version: ModelVersion,
    start: date,
    end: date,
    against: tuple[date, date] | None = None,
    segment: Segment | None = None,
) -> DriftReport:
    """Every feature, the score and the label of the records in [start, end), against the version's
    reference profile, or against another window (``against``); optionally of one segment only
    (against the training rows of that segment)."""
    profile = model_version.reference_profile
    features = profile["features"]
    reference = segment_check(model_version=model_version, segment=segment) if segment and not against else None
    window = _counts_for(model_version, (start, end), segment)
    base = _counts_for(model_version, against, segment) if against else None
    n_features = len(features)
    records = sum(window.get(n_features, {}).values())
    judged = records if base is None else min(records, sum(base.get(n_features, {}).values()))
    report = DriftReport(
        model_id=model_version.model_id,
        start=start,
        end=end,
        baseline=f"{against[0]}..{against[1]}" if against else "reference",
        records=records,
        status="too_few",
    )
    items = [(j, f["name"], f["type"], f) for j, f in enumerate(features)]
    items += [(n_features, "score", "score", profile["score"]), (n_features + 1, "label", "label", profile["label"])]
    for index, name, kind, item in items:
        size = len(item["counts"])
        if base is not None:
            baseline = _as_list(base.get(index, {}), size)
        elif reference is not None:
            baseline = reference["features"][index] if index < n_features else reference[kind]
        else:
            baseline = item["counts"]
        comparison = _compare(name, kind, item, _as_list(window.get(index, {}), size), baseline, judged)
        if index < n_features:
            report.features.append(comparison)
        else:
            setattr(report, kind, comparison)
    report.status = stats.worst([c.status for c in report.features] + [report.score.status, report.label.status])  # type: ignore[union-attr]  # both set above
    return report


@dataclass
class SegmentValue:
    feature: str
    value: str
    records: int


def segment_values(*, model_version: ModelVersion, start: date, end: date, limit: int = 5) -> list[SegmentValue]:
    """The segment picker: per category or boolean feature, its top values by volume in the window
    (from the rollups' bins)."""
    counts = window_counts(model_version=model_version, start=start, end=end)
    out = []
    for j, feature in enumerate(model_version.reference_profile["features"]):
        if feature["type"] not in ("category", "boolean"):
            continue
        names = feature["choices"] if feature["type"] == "category" else ["false", "true"]
        present = [(count, b) for b, count in counts.get(j, {}).items() if b < len(names) and count > 0]
        for count, b in sorted(present, key=lambda item: (-item[0], item[1]))[:limit]:
            out.append(SegmentValue(feature=feature["name"], value=names[b], records=count))
    return out


@dataclass
class SegmentScore:
    """One segment's score drift against its training rows."""

    feature: str
    value: str
    records: int
    psi: float
    p_value: float
    q_value: float  # Benjamini-Hochberg over every segment scanned
    status: str  # the PSI status
    flagged: bool  # warning or critical, and q < FALSE_DISCOVERY_RATE


FALSE_DISCOVERY_RATE = 0.05


def segment_scan(*, model_version: ModelVersion, start: date, end: date, limit: int = 5) -> list[SegmentScore]:
    """The score drift of every segment the picker lists, each against its own training rows; a
    segment is flagged only when its effect size is at least a warning and it survives
    Benjamini-Hochberg at FALSE_DISCOVERY_RATE across all the segments tested."""
    segments = model_version.reference_profile.get("segments", {})
    score_index = len(model_version.reference_profile["features"])
    size = len(model_version.reference_profile["score"]["counts"])
    found = []
    for item in segment_values(model_version=model_version, start=start, end=end, limit=limit):
        reference = segments.get(item.feature, {}).get(item.value)
        if reference is None:
            continue
        segment = Segment(feature=item.feature, value=item.value)
        counts = _segment_counts(model_version=model_version, start=start, end=end, segment=segment)
        window = _as_list(counts.get(score_index, {}), size)
        found.append((item, window, reference["score"]))
    p_values = [stats.binned_ks_p_value(w, r) for _, w, r in found]
    q_values = stats.benjamini_hochberg(p_values)
    out = []
    for (item, window, reference), p, q in zip(found, p_values, q_values, strict=True):
        value = stats.psi(window, reference)
        status = stats.psi_status(value, sum(window))
        out.append(
            SegmentScore(
                feature=item.feature,
                value=item.value,
                records=sum(window),
                psi=value,
                p_value=p,
                q_value=q,
                status=status,
                flagged=status in ("warning", "critical") and q < FALSE_DISCOVERY_RATE,
            )
        )
    return out


@dataclass
class AttributionPart:
    name: str
    reference_mean_shap: float
    window_mean_shap: float
    delta: float  # window - reference, in log-odds
    share: float  # delta / the total shift (NaN when the total is 0)
    psi: float
    drift_impact: float  # PSI x reference mean |SHAP|


@dataclass
class AttributionReport:
    model_id: str
    start: date
    end: date
    records: int
    reference_mean_log_odds: float
    window_mean_log_odds: float
    shift: float  # window - reference mean log-odds = the sum of the parts' deltas
    parts: list[AttributionPart]


def attribution_report(*, model_version: ModelVersion, start: date, end: date) -> AttributionReport:
    """The shift in mean log-odds between the reference (holdout) and the window, split exactly
    into per-feature parts (the drivers are additive: log-odds = base + sum of contributions)."""
    profile = model_version.reference_profile
    sums = {
        row["feature"]: row
        for row in ShapDay.objects.filter(model_version=model_version, day__gte=start, day__lt=end)
        .values("feature")
        .annotate(n=Sum("n"), shap=Sum("shap_sum"))
    }
    records = int(
        DayTotal.objects.filter(model_version=model_version, day__gte=start, day__lt=end).aggregate(n=Sum("n"))["n"]
        or 0
    )
    drift = drift_report(model_version=model_version, start=start, end=end)
    deltas = []
    for j, feature in enumerate(profile["features"]):
        row = sums.get(j)
        window_mean = float(row["shap"]) / int(row["n"]) if row and row["n"] else float("nan")
        deltas.append((feature, window_mean, window_mean - feature["mean_shap"], drift.features[j].psi))
    shift = sum(d for _, _, d, _ in deltas)
    parts = [
        AttributionPart(
            name=feature["name"],
            reference_mean_shap=feature["mean_shap"],
            window_mean_shap=window_mean,
            delta=delta,
            share=delta / shift if shift else float("nan"),
            psi=psi_value,
            drift_impact=psi_value * feature["mean_abs_shap"],
        )
        for feature, window_mean, delta, psi_value in deltas
    ]
    parts.sort(key=lambda part: (-abs(part.delta) if part.delta == part.delta else 0.0, part.name))
    return AttributionReport(
        model_id=model_version.model_id,
        start=start,
        end=end,
        records=records,
        reference_mean_log_odds=profile["mean_log_odds"],
        window_mean_log_odds=profile["base_log_odds"] + sum(p.window_mean_shap for p in parts),
        shift=shift,
        parts=parts,
    )


@dataclass
class Band:
    """Expected (mean score) against observed positive rate, in one label band."""

    label: str
    outcomes: int
    expected_rate: float
    observed_rate: float


@dataclass
class Performance:
    """Realised performance of the records predicted in [start, end) whose outcome has arrived."""

    start: date
    end: date
    records: int
    outcomes: int
    coverage: float  # outcomes / records
    status: str  # "judged" or "too_few" (fewer than MIN_OUTCOMES outcomes)
    auc: float
    auc_low: float
    auc_high: float
    auc_cell_bound: float  # the most the cell AUC can differ from the AUC on exact scores
    brier: float
    log_loss: float
    ece: float
    expected_rate: float  # mean score of the records with an outcome
    observed_rate: float
    calibration_in_the_large: float  # expected - observed
    waiting: int  # records still without an outcome
    waiting_expected_rate: float  # their mean score: the positive rate expected if nothing drifted
    bands: list[Band] = field(default_factory=list)
    reliability: list[stats.CalibrationBin] = field(default_factory=list)


@dataclass
class PerformanceReport:
    model_id: str
    segment: Segment | None
    overall: Performance
    series: list[Performance]  # consecutive windows of ``step`` days


# The rollup tables, or for a segment the same columns computed from its records.
_ROLLUPS = {"totals": "monitoring_daytotal", "bands": "monitoring_outcomeday", "cells": "monitoring_scorecellday"}
_SEGMENT_RECORDS = (
    "FROM records_record r WHERE r.model_version_id = %(v)s AND r.timestamp >= %(start)s::timestamp AT TIME ZONE 'UTC' "
    "AND r.timestamp < %(end)s::timestamp AT TIME ZONE 'UTC' AND r.features_json ->> %(sf)s = %(sv)s"
)
_SEGMENT_TABLES = {
    "totals": f"(SELECT r.model_version_id, {DAY_SQL} AS day, count(*) AS n, sum(r.risk_score) AS score_sum "
    f"{_SEGMENT_RECORDS} GROUP BY 1, 2)",
    "bands": f"(SELECT r.model_version_id, {DAY_SQL} AS day, "
    "array_position(%(labels)s::text[], r.risk_label::text) - 1 AS label, count(*) AS n, "
    "count(*) FILTER (WHERE r.outcome) AS positives, sum(r.risk_score) AS score_sum, "
    f"sum({BRIER_SQL}) AS brier_sum, sum({LOG_LOSS_SQL}) AS log_loss_sum {_SEGMENT_RECORDS} "
    "AND r.outcome IS NOT NULL GROUP BY 1, 2, 3)",
    "cells": f"(SELECT r.model_version_id, {DAY_SQL} AS day, {CELL_SQL} AS cell, count(*) AS n, "
    f"count(*) FILTER (WHERE r.outcome) AS positives, sum(r.risk_score) AS score_sum {_SEGMENT_RECORDS} "
    "AND r.outcome IS NOT NULL GROUP BY 1, 2, 3)",
}
_COLUMNS = {
    "totals": ("", "sum(x.n), sum(x.score_sum)"),
    "bands": ("x.label", "sum(x.n), sum(x.positives), sum(x.score_sum), sum(x.brier_sum), sum(x.log_loss_sum)"),
    "cells": ("x.cell", "sum(x.n), sum(x.positives), sum(x.score_sum)"),
}


def _window_sums(kind: str, params: dict[str, Any], windows: int, width: int, segment: Segment | None) -> np.ndarray:
    """Sums per window of ``step`` days (and per label band or score cell): shape
    (windows, width, columns)."""
    key, columns = _COLUMNS[kind]
    table = _SEGMENT_TABLES[kind] if segment else _ROLLUPS[kind]
    group = f"(x.day - %(start)s::date) / %(step)s, {key or '0'}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {group}, {columns} FROM {table} x WHERE x.model_version_id = %(v)s "
            f"AND x.day >= %(start)s AND x.day < %(end)s GROUP BY 1, 2",
            params,
        )
        rows = cursor.fetchall()
    out = np.zeros((windows, width, columns.count("sum(")), dtype=np.float64)
    for w, k, *values in rows:
        if k is not None and 0 <= k < width:
            out[w, k] = [float(v or 0) for v in values]
    return out


def _performance(
    start: date, end: date, totals: np.ndarray, bands: np.ndarray, cells: np.ndarray, labels: list[str]
) -> Performance:
    """The figures of one window from its sums (totals [n, score]; per band [n, pos, score, brier,
    log loss]; per cell [n, pos, score])."""
    records, outcomes = int(totals[0, 0]), int(bands[:, 0].sum())
    positives, score_sum = float(bands[:, 1].sum()), float(bands[:, 2].sum())
    nan = float("nan")
    mean = (lambda value: value / outcomes) if outcomes else (lambda value: nan)
    groups = [(int(p), int(n - p)) for n, p, _ in cells if n]
    auc = stats.auc_from_groups(groups)
    reliability = stats.equal_count_bins(cells[:, 0], cells[:, 1], cells[:, 2])
    waiting = records - outcomes
    return Performance(
        start=start,
        end=end,
        records=records,
        outcomes=outcomes,
        coverage=outcomes / records if records else nan,
        status="judged" if outcomes >= stats.MIN_OUTCOMES else "too_few",
        auc=auc.auc,
        auc_low=auc.low,
        auc_high=auc.high,
        auc_cell_bound=stats.auc_tie_bound(groups) if groups else nan,
        brier=mean(float(bands[:, 3].sum())),
        log_loss=mean(float(bands[:, 4].sum())),
        ece=stats.expected_calibration_error(reliability),
        expected_rate=mean(score_sum),
        observed_rate=mean(positives),
        calibration_in_the_large=mean(score_sum - positives),
        waiting=waiting,
        waiting_expected_rate=(float(totals[0, 1]) - score_sum) / waiting if waiting > 0 else nan,
        bands=[
            Band(label, int(n), s / n if n else nan, p / n if n else nan)
            for label, (n, p, s, _, _) in zip(labels, bands, strict=True)
        ],
        reliability=reliability,
    )


def performance_report(
    *, model_version: ModelVersion, start: date, end: date, step: int = 7, segment: Segment | None = None
) -> PerformanceReport:
    """Realised performance over [start, end) by time of prediction, overall and in consecutive
    windows of ``step`` days (the last one may be shorter), over the records whose outcome has
    arrived; optionally only one segment's records."""
    if segment:
        segment_feature_check(model_version=model_version, segment=segment)
    labels = list(model_version.reference_profile["label"]["labels"])
    windows = max(1, -(-(end - start).days // step))
    params: dict[str, Any] = {"v": model_version.pk, "start": start, "end": end, "step": step, "labels": labels}
    if segment:
        params.update(sf=segment.feature, sv=segment.value)
    totals = _window_sums("totals", params, windows, 1, segment)
    bands = _window_sums("bands", params, windows, len(labels), segment)
    cells = _window_sums("cells", params, windows, stats.SCORE_CELLS, segment)
    series = [
        _performance(
            start + timedelta(days=w * step),
            min(end, start + timedelta(days=(w + 1) * step)),
            totals[w],
            bands[w],
            cells[w],
            labels,
        )
        for w in range(windows)
    ]
    overall = _performance(start, end, totals.sum(axis=0), bands.sum(axis=0), cells.sum(axis=0), labels)
    return PerformanceReport(model_id=model_version.model_id, segment=segment, overall=overall, series=series)


@dataclass
class FairnessReport:
    """Fairness of the decisions made in [start, end), per protected attribute of the version."""

    model_id: str
    start: date
    end: date
    decided: int  # records with a decision in the window
    attributes: list[fairness.AttributeFairness]

    @property
    def outcomes(self) -> int:
        return max((sum(g.counts.outcomes for g in a.groups) for a in self.attributes), default=0)


_FAIRNESS_SQL = (
    "SELECT p.key, p.value, count(*), count(*) FILTER (WHERE r.decision = 'approve'), "
    "count(r.outcome), count(*) FILTER (WHERE r.outcome), "
    "count(*) FILTER (WHERE r.outcome AND r.decision <> 'approve'), "
    "count(*) FILTER (WHERE NOT r.outcome AND r.decision <> 'approve') "
    "FROM records_record r CROSS JOIN LATERAL jsonb_each_text(r.protected) AS p(key, value) "
    "WHERE r.model_version_id = %(v)s AND r.timestamp >= %(start)s::timestamp AT TIME ZONE 'UTC' "
    "AND r.timestamp < %(end)s::timestamp AT TIME ZONE 'UTC' AND r.decision <> '' "
    "AND p.key = ANY(%(names)s) GROUP BY 1, 2"
)


def fairness_report(*, model_version: ModelVersion, start: date, end: date) -> FairnessReport:
    """Approval rates, adverse impact ratios and TPR/FPR gaps per protected attribute of the
    version, over its records decided in [start, end) that carry the attribute."""
    names = [spec["name"] for spec in model_version.protected_schema]
    params: dict[str, Any] = {"v": model_version.pk, "start": start, "end": end, "names": names}
    counts: dict[str, dict[str, fairness.GroupCounts]] = {name: {} for name in names}
    with connection.cursor() as cursor:
        cursor.execute(_FAIRNESS_SQL, params)
        for key, value, *numbers in cursor.fetchall():
            counts[key][value] = fairness.GroupCounts(*(int(n) for n in numbers))
        cursor.execute(
            "SELECT count(*) FROM records_record r WHERE r.model_version_id = %(v)s AND r.decision <> '' "
            "AND r.timestamp >= %(start)s::timestamp AT TIME ZONE 'UTC' "
            "AND r.timestamp < %(end)s::timestamp AT TIME ZONE 'UTC'",
            params,
        )
        decided = int(cursor.fetchone()[0])
    return FairnessReport(
        model_id=model_version.model_id,
        start=start,
        end=end,
        decided=decided,
        attributes=fairness.fairness_from_counts(counts),
    )


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


def alert_metric(
    *,
    metric: str,
    model_version: ModelVersion,
    start: date,
    end: date,
    min_records: int,
    reports: dict[tuple[Any, ...], Any] | None = None,
) -> MetricValue:
    """The value a rule's metric takes over [start, end). ``reports`` keeps the drift and
    performance reports across calls, so the rules sharing a window compute it once."""
    reports = {} if reports is None else reports
    if metric in FAIRNESS_METRICS:
        key: tuple[Any, ...] = ("fairness", model_version.pk, start, end)
        if key not in reports:
            reports[key] = fairness_report(model_version=model_version, start=start, end=end)
        value, n = _fairness_metric(metric, reports[key])
    elif metric in ("auc", "ece"):
        key = ("performance", model_version.pk, start, end)
        if key not in reports:
            reports[key] = performance_report(
                model_version=model_version, start=start, end=end, step=(end - start).days
            )
        figures = reports[key].overall
        value, n = (figures.auc if metric == "auc" else figures.ece), figures.outcomes
    else:
        key = ("drift", model_version.pk, start, end)
        if key not in reports:
            reports[key] = drift_report(model_version=model_version, start=start, end=end)
        drift: DriftReport = reports[key]
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


@dataclass
class ModelStatus:
    name: str
    model_id: str
    status: str  # the drift status of the last 7 days
    records: int
    open_alerts: int
    version: ModelVersion = field(repr=False)


def monitoring_overview(*, start: date, end: date) -> list[ModelStatus]:
    """Every production model with a profile: its drift status over [start, end), its volume and
    its unresolved alerts."""
    versions = ModelVersion.objects.filter(status=ModelVersion.Status.PRODUCTION).exclude(reference_profile={})
    out = []
    for version in versions.defer("artifact").order_by("name"):
        drift = drift_report(model_version=version, start=start, end=end)
        unresolved = alert_list(status="unresolved", model_name=version.name).count()
        out.append(ModelStatus(version.name, version.model_id, drift.status, drift.records, unresolved, version))
    return out


def monitored_version_get(*, name: str) -> ModelVersion:
    """The production version of ``name``, with its profile (a 404 if none, or unprofiled)."""
    from predictions.selectors import ModelNotFound, model_version_get_production

    version = model_version_get_production(name=name)
    version.refresh_from_db(fields=["reference_profile"])
    if not version.reference_profile:
        raise ModelNotFound(
            f"model {name[:100]!r} has no reference profile; "
            f"run manage.py monitoring_profile {version.model_id} --csv <its training CSV>"
        )
    return version


@dataclass
class DayDrift:
    """PSI per feature (then the score, then the label) and day, each day against the baseline."""

    days: list[date]
    names: list[str]
    psi: list[list[float]]  # [row][day]
    records: list[int]  # per day


def drift_by_day(*, model_version: ModelVersion, start: date, end: date, segment: Segment | None = None) -> DayDrift:
    """Each day of [start, end) against the reference (or the segment's training rows)."""
    profile = model_version.reference_profile
    n_features = len(profile["features"])
    reference = segment_check(model_version=model_version, segment=segment) if segment else None
    params: dict[str, Any] = {"v": model_version.pk, "start": start, "end": end}
    if segment:
        bins = bins_sql(profile, params)
        params.update(sf=segment.feature, sv=segment.value)
        sql = (
            f"SELECT b.day, u.i - 1, u.bin, count(*) FROM (SELECT {DAY_SQL} AS day, {bins} AS bins "
            f"{_SEGMENT_RECORDS}) b, unnest(b.bins) WITH ORDINALITY AS u(bin, i) "
            "WHERE u.bin IS NOT NULL GROUP BY 1, 2, 3"
        )
    else:
        sql = (
            "SELECT day, feature, bin, count FROM monitoring_binday WHERE model_version_id = %(v)s "
            "AND day >= %(start)s AND day < %(end)s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    column = {day: i for i, day in enumerate(days)}
    items = [*profile["features"], profile["score"], profile["label"]]
    counts = np.zeros((len(items), len(days), max(len(item["counts"]) for item in items)), dtype=np.float64)
    for day, feature, bin_, count in rows:
        counts[feature, column[day], bin_] += count
    psi = []
    for index, item in enumerate(items):
        size = len(item["counts"])
        if reference is None:
            baseline = item["counts"]
        else:
            baseline = (
                reference["features"][index]
                if index < n_features
                else reference["score" if index == n_features else "label"]
            )
        psi.append([stats.psi(counts[index, col, :size], baseline) for col in range(len(days))])
    names = [f["name"] for f in profile["features"]] + ["score", "label"]
    return DayDrift(days=days, names=names, psi=psi, records=[int(x) for x in counts[n_features].sum(axis=1)])

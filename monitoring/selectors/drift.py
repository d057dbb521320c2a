"""Monitoring reads: drift of the features, score and label (by window, by day, by segment) and
attribution drift, from the daily rollups."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Sum

from core.errors import ApplicationError
from monitoring import stats
from monitoring.binning import bins_sql
from monitoring.models import BinDay, DayTotal, ShapDay
from monitoring.sql import DAY_SQL, SEGMENT_RECORDS, SEGMENTS_RECORDS, SqlParams, T
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
    params: SqlParams = {"v": model_version.pk, "start": start, "end": end}
    bins = bins_sql(model_version.reference_profile, params)
    params.update(sf=segment.feature, sv=segment.value)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.i - 1, u.bin, count(*) FROM (SELECT {bins} AS bins {SEGMENT_RECORDS}) b, "
            "unnest(b.bins) WITH ORDINALITY AS u(bin, i) WHERE u.bin IS NOT NULL GROUP BY 1, 2",
            params,
        )
        rows = cursor.fetchall()
    out: dict[int, dict[int, int]] = {}
    for feature, bin_, count in rows:
        out.setdefault(feature, {})[bin_] = int(count)
    return out


def _segment_score_counts(
    *, model_version: ModelVersion, start: date, end: date, segments: list[SegmentValue]
) -> list[list[int]]:
    """The score bin counts of each segment's records in [start, end), in one pass over the window
    (a pass per segment, binning every feature, took seconds on a year of the demo)."""
    size = len(model_version.reference_profile["score"]["counts"])
    edges = model_version.reference_profile["score"]["edges"]
    params: SqlParams = {"v": model_version.pk, "start": start, "end": end}
    params.update(
        sf=[s.feature for s in segments], sv=[s.value for s in segments], edges=[float(e) for e in edges[1:-1]]
    )
    score_bin = "width_bucket(r.risk_score, %(edges)s::float8[])" if len(edges) > 2 else "0"
    out = [[0] * size for _ in segments]
    if not segments:
        return out
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT s.i - 1, {score_bin}, count(*) {SEGMENTS_RECORDS} GROUP BY 1, 2", params)
        for index, bin_, count in cursor.fetchall():
            if 0 <= bin_ < size:
                out[index][bin_] = int(count)
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
    picked = [
        (item, segments[item.feature][item.value])
        for item in segment_values(model_version=model_version, start=start, end=end, limit=limit)
        if item.value in segments.get(item.feature, {})
    ]
    windows = _segment_score_counts(model_version=model_version, start=start, end=end, segments=[i for i, _ in picked])
    found = [(item, window, reference["score"]) for (item, reference), window in zip(picked, windows, strict=True)]
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
    params: SqlParams = {"v": model_version.pk, "start": start, "end": end}
    if segment:
        bins = bins_sql(profile, params)
        params.update(sf=segment.feature, sv=segment.value)
        sql = (
            f"SELECT b.day, u.i - 1, u.bin, count(*) FROM (SELECT {DAY_SQL} AS day, {bins} AS bins "
            f"{SEGMENT_RECORDS}) b, unnest(b.bins) WITH ORDINALITY AS u(bin, i) "
            "WHERE u.bin IS NOT NULL GROUP BY 1, 2, 3"
        )
    else:
        sql = (
            f"SELECT day, feature, bin, count FROM {T.bin_day} WHERE model_version_id = %(v)s "
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

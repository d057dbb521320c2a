"""Monitoring reads: drift and attribution drift for any window, from the daily rollups."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Sum

from monitoring import stats
from monitoring.models import BinDay, DayTotal, ShapDay
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


def drift_report(
    *, model_version: ModelVersion, start: date, end: date, against: tuple[date, date] | None = None
) -> DriftReport:
    """Every feature, the score and the label of the records in [start, end), against the version's
    reference profile, or against another window (``against``)."""
    profile = model_version.reference_profile
    features = profile["features"]
    window = window_counts(model_version=model_version, start=start, end=end)
    base = window_counts(model_version=model_version, start=against[0], end=against[1]) if against else None
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
    for j, feature in enumerate(features):
        size = len(feature["counts"])
        baseline = _as_list(base.get(j, {}), size) if base is not None else feature["counts"]
        report.features.append(
            _compare(feature["name"], feature["type"], feature, _as_list(window.get(j, {}), size), baseline, judged)
        )
    for index, kind in ((n_features, "score"), (n_features + 1, "label")):
        item = profile[kind]
        size = len(item["counts"])
        baseline = _as_list(base.get(index, {}), size) if base is not None else item["counts"]
        comparison = _compare(kind, kind, item, _as_list(window.get(index, {}), size), baseline, judged)
        setattr(report, kind, comparison)
    report.status = stats.worst([c.status for c in report.features] + [report.score.status, report.label.status])  # type: ignore[union-attr]  # both set above
    return report


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

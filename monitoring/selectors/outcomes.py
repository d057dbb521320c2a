"""Monitoring reads: realised performance and fairness, from the daily rollups."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from django.db import connection

from monitoring import fairness, stats
from monitoring.selectors.drift import Segment, segment_feature_check
from monitoring.sql import BRIER_SQL, CELL_SQL, DAY_SQL, LOG_LOSS_SQL, SEGMENT_RECORDS, SqlParams, T
from predictions.models import ModelVersion


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


_COLUMNS = {
    "totals": ("", "sum(x.n), sum(x.score_sum)"),
    "bands": ("x.label", "sum(x.n), sum(x.positives), sum(x.score_sum), sum(x.brier_sum), sum(x.log_loss_sum)"),
    "cells": ("x.cell", "sum(x.n), sum(x.positives), sum(x.score_sum)"),
}


# The rollup tables, or for a segment the same columns computed from its records.
_ROLLUPS = {"totals": T.day_total, "bands": T.outcome_day, "cells": T.score_cell_day}
_SEGMENT_TABLES = {
    "totals": f"(SELECT r.model_version_id, {DAY_SQL} AS day, count(*) AS n, sum(r.risk_score) AS score_sum "
    f"{SEGMENT_RECORDS} GROUP BY 1, 2)",
    "bands": f"(SELECT r.model_version_id, {DAY_SQL} AS day, "
    "array_position(%(labels)s::text[], r.risk_label::text) - 1 AS label, count(*) AS n, "
    "count(*) FILTER (WHERE r.outcome) AS positives, sum(r.risk_score) AS score_sum, "
    f"sum({BRIER_SQL}) AS brier_sum, sum({LOG_LOSS_SQL}) AS log_loss_sum {SEGMENT_RECORDS} "
    "AND r.outcome IS NOT NULL GROUP BY 1, 2, 3)",
    "cells": f"(SELECT r.model_version_id, {DAY_SQL} AS day, {CELL_SQL} AS cell, count(*) AS n, "
    f"count(*) FILTER (WHERE r.outcome) AS positives, sum(r.risk_score) AS score_sum {SEGMENT_RECORDS} "
    "AND r.outcome IS NOT NULL GROUP BY 1, 2, 3)",
}


def _window_sums(kind: str, params: SqlParams, windows: int, width: int, segment: Segment | None) -> np.ndarray:
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
    params: SqlParams = {"v": model_version.pk, "start": start, "end": end, "step": step, "labels": labels}
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


# Per attribute and group: decided, approved, with an outcome, positive, positive and not approved,
# negative and not approved (FairnessDay.outcome: -1 unknown, 0, 1).
_FAIRNESS_SQL = (
    "SELECT attribute, \"group\", sum(n), sum(n) FILTER (WHERE decision = 'approve'), "
    "sum(n) FILTER (WHERE outcome >= 0), sum(n) FILTER (WHERE outcome = 1), "
    "sum(n) FILTER (WHERE outcome = 1 AND decision <> 'approve'), "
    "sum(n) FILTER (WHERE outcome = 0 AND decision <> 'approve') "
    f"FROM {T.fairness_day} WHERE model_version_id = %(v)s AND day >= %(start)s AND day < %(end)s "
    "AND attribute = ANY(%(names)s) GROUP BY 1, 2"
)


def fairness_report(*, model_version: ModelVersion, start: date, end: date) -> FairnessReport:
    """Approval rates, adverse impact ratios and TPR/FPR gaps per protected attribute of the
    version, over its records decided in [start, end) that carry the attribute (from the rollups:
    the records folded so far)."""
    names = [spec["name"] for spec in model_version.protected_schema]
    params: SqlParams = {"v": model_version.pk, "start": start, "end": end, "names": names}
    counts: dict[str, dict[str, fairness.GroupCounts]] = {name: {} for name in names}
    with connection.cursor() as cursor:
        cursor.execute(_FAIRNESS_SQL, params)
        for key, value, *numbers in cursor.fetchall():
            counts[key][value] = fairness.GroupCounts(*(int(n or 0) for n in numbers))
        cursor.execute(
            f"SELECT coalesce(sum(decided), 0) FROM {T.day_total} "
            "WHERE model_version_id = %(v)s AND day >= %(start)s AND day < %(end)s",
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

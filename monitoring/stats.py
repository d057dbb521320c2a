"""The monitoring formulas, on small arrays (bin counts and rollup sums); docs/monitoring.md states
each one, and the tests hold them to independent computations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

PSI_SMOOTHING = 0.5
PSI_WARNING = 0.1
PSI_CRITICAL = 0.25
MIN_RECORDS = 500
MIN_OUTCOMES = 100
SCORE_CELLS = 1000  # outcome-bearing records are rolled up in score cells of width 1 / SCORE_CELLS
CALIBRATION_BINS = 10

Counts = Sequence[float] | np.ndarray


def psi(window: Counts, reference: Counts) -> float:
    """Population stability index: each bin count + 0.5, then normalised; sum of (p - q) ln(p / q)."""
    p = np.asarray(window, dtype=np.float64) + PSI_SMOOTHING
    q = np.asarray(reference, dtype=np.float64) + PSI_SMOOTHING
    p /= p.sum()
    q /= q.sum()
    return float(np.sum((p - q) * np.log(p / q)))


def js_distance(window: Counts, reference: Counts) -> float:
    """Jensen-Shannon distance, base 2, of the two count vectors' proportions (in [0, 1])."""
    p = np.asarray(window, dtype=np.float64)
    q = np.asarray(reference, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        present = a > 0
        return float(np.sum(a[present] * np.log2(a[present] / m[present])))

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


def chi2_p_value(window: Counts, reference: Counts) -> float:
    """Pearson's chi-squared test of homogeneity on the 2 x k table (bins empty in both dropped)."""
    table = np.array([window, reference], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return math.nan
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def binned_ks_p_value(window: Counts, reference: Counts) -> float:
    """Two-sample Kolmogorov-Smirnov on the bins' cumulative proportions: D = max |F_w - F_r|,
    p = Q_KS(sqrt(n_w n_r / (n_w + n_r)) D) (the asymptotic Kolmogorov distribution)."""
    w = np.asarray(window, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if w.sum() == 0 or r.sum() == 0:
        return math.nan
    d = float(np.max(np.abs(np.cumsum(w) / w.sum() - np.cumsum(r) / r.sum())))
    effective = w.sum() * r.sum() / (w.sum() + r.sum())
    return float(special.kolmogorov(math.sqrt(effective) * d))


def psi_status(value: float, n: int, minimum: int = MIN_RECORDS) -> str:
    if n < minimum:
        return "too_few"
    if value >= PSI_CRITICAL:
        return "critical"
    if value >= PSI_WARNING:
        return "warning"
    return "stable"


STATUS_ORDER = ("stable", "warning", "critical")


def worst(statuses: Sequence[str]) -> str:
    """The worst of judged statuses; "too_few" only when nothing could be judged."""
    judged = [s for s in statuses if s in STATUS_ORDER]
    if not judged:
        return "too_few"
    return max(judged, key=STATUS_ORDER.index)


@dataclass(frozen=True)
class AucResult:
    auc: float
    low: float
    high: float
    positives: int
    negatives: int


def auc_from_groups(groups: Sequence[tuple[int, int]]) -> AucResult:
    """ROC AUC and its DeLong 95 % interval from (positives, negatives) per distinct score, in
    ascending score order. Each positive's placement V10 = (negatives below + half the tied
    negatives) / n0; each negative's V01 = (positives above + half the tied) / n1; AUC = mean V10;
    var = S10 / n1 + S01 / n0 (sample variances of V10 and V01); interval AUC +- 1.959964 sqrt(var),
    clipped to [0, 1]."""
    pos = np.array([g[0] for g in groups], dtype=np.float64)
    neg = np.array([g[1] for g in groups], dtype=np.float64)
    n1, n0 = int(pos.sum()), int(neg.sum())
    if n1 < 2 or n0 < 2:
        return AucResult(math.nan, math.nan, math.nan, n1, n0)
    neg_below = np.cumsum(neg) - neg
    pos_above = n1 - np.cumsum(pos)
    v10 = (neg_below + 0.5 * neg) / n0
    v01 = (pos_above + 0.5 * pos) / n1
    auc = float(np.sum(pos * v10) / n1)
    s10 = (np.sum(pos * v10**2) - n1 * auc**2) / (n1 - 1)
    s01 = (np.sum(neg * v01**2) - n0 * auc**2) / (n0 - 1)
    half = 1.959963984540054 * math.sqrt(max(0.0, s10 / n1 + s01 / n0))
    return AucResult(auc, max(0.0, auc - half), min(1.0, auc + half), n1, n0)


def auc_tie_bound(groups: Sequence[tuple[int, int]]) -> float:
    """How far the AUC on score cells can be from the AUC on the exact scores: pairs inside one
    cell count as ties (1/2), so at most half their share of all positive-negative pairs."""
    pos = np.array([g[0] for g in groups], dtype=np.float64)
    neg = np.array([g[1] for g in groups], dtype=np.float64)
    pairs = pos.sum() * neg.sum()
    return float(0.5 * np.sum(pos * neg) / pairs) if pairs else math.nan


@dataclass(frozen=True)
class CalibrationBin:
    n: float
    mean_score: float
    observed_rate: float


def equal_count_bins(
    n: Counts, positives: Counts, score_sum: Counts, bins: int = CALIBRATION_BINS
) -> list[CalibrationBin]:
    """Records in ascending score cells, cut into ``bins`` bins of equal count: bin b holds ranks
    [b N / bins, (b + 1) N / bins). A cell cut by a boundary is shared in proportion to its ranks
    on each side (its records are interchangeable), with its positives and score sum."""
    counts = np.asarray(n, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return []
    end = np.cumsum(counts)
    start = end - counts
    bounds = total * np.arange(bins + 1) / bins
    overlap = np.clip(np.minimum(end, bounds[1:, None]) - np.maximum(start, bounds[:-1, None]), 0, None)
    share = np.divide(overlap, counts, out=np.zeros_like(overlap), where=counts > 0)
    sizes = share @ counts
    observed = share @ np.asarray(positives, dtype=np.float64)
    scores = share @ np.asarray(score_sum, dtype=np.float64)
    return [
        CalibrationBin(float(size), float(s / size), float(o / size))
        for size, s, o in zip(sizes, scores, observed, strict=True)
        if size > 0
    ]


def expected_calibration_error(calibration: Sequence[CalibrationBin]) -> float:
    """ECE: the count-weighted mean of |mean score - observed rate| over the bins."""
    total = sum(b.n for b in calibration)
    if not total:
        return math.nan
    return float(sum(b.n * abs(b.mean_score - b.observed_rate) for b in calibration) / total)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """BH-adjusted p-values (q-values) in the input order; NaN stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(len(p), np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if len(valid) == 0:
        return out.tolist()
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()

"""The release gates' statistics, on plain arrays: ROC AUC with a paired bootstrap interval of the
difference, calibration, and score stability. docs/operations.md states each one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from monitoring.stats import psi


def roc_auc(outcomes: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney ROC AUC, ties counted half; NaN without both classes."""
    y = np.asarray(outcomes, dtype=bool)
    positives = int(y.sum())
    negatives = len(y) - positives
    if not positives or not negatives:
        return math.nan
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


@dataclass(frozen=True)
class Interval:
    difference: float  # on the rows as they are
    low: float
    high: float
    rounds: int  # resamples with both classes


def _bootstrap_aucs(y: np.ndarray, scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    picked = y[idx]
    positives = picked.sum(axis=1)
    negatives = idx.shape[1] - positives
    ranks = rankdata(scores[idx], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: np.ndarray = ((ranks * picked).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)
    return result


def paired_bootstrap_auc_difference(
    outcomes: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    *,
    rounds: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Percentile interval of AUC(candidate) - AUC(champion), both computed on the same resampled
    rows in each round (paired), so the rows' own difficulty cancels out."""
    y = np.asarray(outcomes, dtype=bool)
    candidate = np.asarray(candidate, dtype=np.float64)
    champion = np.asarray(champion, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(rounds, len(y)))
    differences = []
    chunk = max(1, 2_000_000 // max(len(y), 1))  # rounds per chunk: bounded memory
    for start in range(0, rounds, chunk):
        part = idx[start : start + chunk]
        differences.append(_bootstrap_aucs(y, candidate, part) - _bootstrap_aucs(y, champion, part))
    diff = np.concatenate(differences)
    diff = diff[np.isfinite(diff)]
    point = roc_auc(y, candidate) - roc_auc(y, champion)
    if not len(diff):
        return Interval(point, math.nan, math.nan, 0)
    alpha = (1 - level) / 2
    low, high = np.quantile(diff, [alpha, 1 - alpha])
    return Interval(float(point), float(low), float(high), len(diff))


def expected_calibration_error(outcomes: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Equal-width bins over [0, 1]: the count-weighted mean |mean score - observed rate|."""
    y = np.asarray(outcomes, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if not len(s):
        return math.nan
    which = np.clip((s * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    score_sums = np.bincount(which, weights=s, minlength=bins)
    outcome_sums = np.bincount(which, weights=y, minlength=bins)
    return float(np.abs(score_sums - outcome_sums).sum() / counts.sum())


def calibration_in_the_large(outcomes: np.ndarray, scores: np.ndarray) -> float:
    """Mean score minus observed rate: positive when the model overstates the risk."""
    return float(np.mean(scores) - np.mean(outcomes)) if len(scores) else math.nan


def score_psi(candidate: Sequence[float] | np.ndarray, champion: Sequence[float] | np.ndarray, bins: int = 10) -> float:
    """PSI of the candidate's scores against the champion's, in the champion's score deciles."""
    champion = np.asarray(champion, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if not len(champion) or not len(candidate):
        return math.nan
    edges = np.unique(np.quantile(champion, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = [
        np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1) for x in (candidate, champion)
    ]
    return psi(counts[0], counts[1])

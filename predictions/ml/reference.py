"""A model version's reference profile: how its training data was distributed, in the bins that
monitoring compares live records against (docs/monitoring.md states each rule).

- number and integer features: the deduplicated 0, 10, ..., 100 % quantiles of the training values
  (numpy's default linear interpolation) as edges; a value falls in bin ``k`` when ``k`` inner edges
  are <= it (so values below the first edge or above the last fall in the end bins); then a missing bin;
- category features: one bin per training value (the schema's choices, in order), then "other"
  (a value training never saw) and "missing"; boolean features: false, true, other, missing;
- the score: the same rule as a number, on the model's own training scores, without a missing bin;
- the label: one bin per label band, in band order;
- SHAP: the mean and mean absolute contribution of each feature over the holdout, and the base;
- segments: for every value training saw of a category or boolean feature, the same counts over
  only the training rows with that value (the baseline of that segment's drift).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np

from predictions.ml.features import FeatureSpec
from predictions.ml.scoring import ScoringModel

QUANTILES = np.linspace(0.0, 1.0, 11)
PROFILE_FORMAT = 2


def numeric_edges(values: np.ndarray) -> list[float]:
    """The deduplicated decile edges of the present values ([] when there are none)."""
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return []
    return [float(edge) for edge in np.unique(np.quantile(present, QUANTILES))]


def numeric_bins(values: np.ndarray, edges: Sequence[float], *, missing_bin: bool = True) -> np.ndarray:
    """Each value's bin: the number of inner edges <= it (PostgreSQL's ``width_bucket(v, inner)``),
    and ``len(edges) - 1`` (or 1 with a single edge) for a missing value."""
    inner = np.asarray(edges[1:-1], dtype=np.float64)
    n_bins = max(len(edges) - 1, 1)
    bins = np.searchsorted(inner, values, side="right")
    if missing_bin:
        bins = np.where(np.isnan(values), n_bins, bins)
    return bins.astype(np.int64)


def bin_count(spec_or_kind: FeatureSpec | str, edges: Sequence[float] = (), labels: Sequence[str] = ()) -> int:
    """How many bins a feature (or ``"score"`` / ``"label"``) has."""
    if spec_or_kind == "score":
        return max(len(edges) - 1, 1)
    if spec_or_kind == "label":
        return len(labels)
    assert isinstance(spec_or_kind, FeatureSpec)
    if spec_or_kind.type == "category":
        return len(spec_or_kind.choices) + 2
    if spec_or_kind.type == "boolean":
        return 4
    return max(len(edges) - 1, 1) + 1


def encoded_bins(spec: FeatureSpec, column: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """The bins of one encoded column (categories as choice indexes, booleans as 0/1, NaN missing)."""
    if spec.type in ("category", "boolean"):
        missing = bin_count(spec) - 1
        return np.where(np.isnan(column), missing, np.nan_to_num(column, nan=0.0)).astype(np.int64)
    return numeric_bins(column, edges)


def _counts(bins: np.ndarray, size: int) -> list[int]:
    return [int(c) for c in np.bincount(bins, minlength=size)[:size]]


class ProfileFeature(TypedDict):
    name: str
    type: str
    edges: list[float]  # numbers: the bin edges (the first and last are the training min and max)
    choices: list[str]  # categories: the levels, then "other" and "missing" bins
    counts: list[int]
    mean_shap: float  # over the holdout
    mean_abs_shap: float


class ProfileScore(TypedDict):
    edges: list[float]
    counts: list[int]


class ProfileLabel(TypedDict):
    labels: list[str]
    counts: list[int]


class SegmentCounts(TypedDict):
    """Every count over the training rows of one segment (a category's or boolean's value)."""

    rows: int
    features: list[list[int]]
    score: list[int]
    label: list[int]


class ReferenceProfile(TypedDict):
    format: int
    source: str
    rows: int
    holdout_rows: int
    features: list[ProfileFeature]
    score: ProfileScore
    label: ProfileLabel
    segments: dict[str, dict[str, SegmentCounts]]  # feature -> value -> counts
    base_log_odds: float
    mean_log_odds: float


def _segments(
    schema: Sequence[FeatureSpec],
    bins: list[np.ndarray],
    sizes: list[int],
    score_bins: np.ndarray,
    label_bins: np.ndarray,
) -> dict[str, dict[str, SegmentCounts]]:
    """Per category/boolean feature and training value: the rows, and every count over those rows."""
    out: dict[str, dict[str, SegmentCounts]] = {}
    for j, spec in enumerate(schema):
        if spec.type not in ("category", "boolean"):
            continue
        names = list(spec.choices) if spec.type == "category" else ["false", "true"]
        values: dict[str, SegmentCounts] = {}
        for c, name in enumerate(names):
            rows = bins[j] == c
            if rows.any():
                values[name] = {
                    "rows": int(rows.sum()),
                    "features": [_counts(b[rows], size) for b, size in zip(bins, sizes[: len(bins)], strict=True)],
                    "score": _counts(score_bins[rows], sizes[-2]),
                    "label": _counts(label_bins[rows], sizes[-1]),
                }
        out[spec.name] = values
    return out


def reference_profile(
    *,
    schema: Sequence[FeatureSpec],
    train_encoded: np.ndarray,
    train_scores: np.ndarray,
    band_labels: Sequence[str],
    train_labels: Sequence[str],
    holdout_contributions: np.ndarray,
    base_log_odds: float,
    source: str,
) -> ReferenceProfile:
    """The profile (JSON-ready) of a model trained on ``train_encoded``."""
    features: list[ProfileFeature] = []
    bins, sizes = [], []
    for j, spec in enumerate(schema):
        column = train_encoded[:, j]
        edges = numeric_edges(column) if spec.type in ("number", "integer") else []
        contributions = holdout_contributions[:, j]
        bins.append(encoded_bins(spec, column, edges))
        sizes.append(bin_count(spec, edges))
        features.append(
            {
                "name": spec.name,
                "type": spec.type,
                "edges": edges,
                "choices": list(spec.choices),
                "counts": _counts(bins[-1], sizes[-1]),
                "mean_shap": float(contributions.mean()) if len(contributions) else 0.0,
                "mean_abs_shap": float(np.abs(contributions).mean()) if len(contributions) else 0.0,
            }
        )
    scores = np.asarray(train_scores, dtype=np.float64)
    score_edges = numeric_edges(scores)
    score_bins = numeric_bins(scores, score_edges, missing_bin=False)
    label_index = {label: i for i, label in enumerate(band_labels)}
    label_bins = np.array([label_index[x] for x in train_labels], dtype=np.int64)
    sizes += [bin_count("score", score_edges), len(band_labels)]
    mean_known = len(holdout_contributions) > 0
    return {
        "format": PROFILE_FORMAT,
        "source": source,
        "rows": len(train_encoded),
        "holdout_rows": len(holdout_contributions),
        "features": features,
        "score": {"edges": score_edges, "counts": _counts(score_bins, sizes[-2])},
        "label": {"labels": list(band_labels), "counts": _counts(label_bins, sizes[-1])},
        "segments": _segments(schema, bins, sizes, score_bins, label_bins),
        "base_log_odds": float(base_log_odds),
        "mean_log_odds": float(base_log_odds + (holdout_contributions.sum(axis=1).mean() if mean_known else 0.0)),
    }


def profile_from_scorer(
    scorer: ScoringModel, *, train_encoded: np.ndarray, holdout_encoded: np.ndarray, source: str
) -> ReferenceProfile:
    """The profile of a served model, from its own scores and explanations of its training split."""
    train = scorer.explainer.explain(train_encoded)
    holdout = scorer.explainer.explain(holdout_encoded)
    scores = train.probability
    return reference_profile(
        schema=scorer.schema,
        train_encoded=train_encoded,
        train_scores=scores,
        band_labels=[band["label"] for band in scorer.label_bands],
        train_labels=scorer.labels_for(scores),
        holdout_contributions=holdout.contributions,
        base_log_odds=float(holdout.base_log_odds),
        source=source,
    )

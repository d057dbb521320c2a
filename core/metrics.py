"""Prometheus metrics of the service's own work (request metrics come from django-prometheus)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PREDICTIONS = Counter(
    "riskengine_predictions_total", "Predictions stored, by model version and risk label", ["model_id", "label"]
)
EMBEDDING_SECONDS = Histogram(
    "riskengine_embedding_seconds",
    "Time to embed one call's texts (or rows), by embedder",
    ["embedder"],
    buckets=(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0, 5.0),
)
CHALLENGER_FAILURES = Counter(
    "riskengine_challenger_failures_total",
    "Rows a challenger (shadow or canary) did not score (unreadable features, or an error), by version",
    ["model_id", "reason"],
)

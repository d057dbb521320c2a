from __future__ import annotations

from predictions.models import ModelVersion


def format_version_summary(version: ModelVersion) -> str:
    metrics = version.metrics
    lines = [
        f"Registered {version.model_id} ({version.algorithm}, embedder {version.embedder}), status {version.status}",
        f"  data: {version.training_rows} rows, sha256 {version.training_sha256[:16]}…, "
        f"{len(version.feature_schema)} features, target {version.target!r} positive {version.positive_class!r}",
        f"  holdout: n_train={metrics['n_train']} n_test={metrics['n_test']} base_rate={metrics['base_rate']:.3f}",
        f"  ROC AUC {metrics['roc_auc']:.4f} | PR AUC {metrics['pr_auc']:.4f} | "
        f"Brier {metrics['brier']:.4f} | log loss {metrics['log_loss']:.4f}",
        f"  artifact sha256 {version.artifact_sha256}",
    ]
    return "\n".join(lines) + "\n"

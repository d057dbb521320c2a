from __future__ import annotations

from predictions.models import ModelVersion


def format_version_summary(version: ModelVersion) -> str:
    from predictions.ml.decisions import policy_get

    metrics = version.metrics
    policy = policy_get(version.decision_policy, version.label_bands)
    protected = [spec["name"] for spec in version.protected_schema]
    lines = [
        f"Registered {version.model_id} ({version.algorithm}, embedder {version.embedder}), status {version.status}",
        f"  data: {version.training_rows} rows, sha256 {version.training_sha256[:16]}…, "
        f"{len(version.feature_schema)} features, target {version.target!r} positive {version.positive_class!r}",
        f"  holdout: n_train={metrics['n_train']} n_test={metrics['n_test']} base_rate={metrics['base_rate']:.3f}",
        f"  ROC AUC {metrics['roc_auc']:.4f} | PR AUC {metrics['pr_auc']:.4f} | "
        f"Brier {metrics['brier']:.4f} | log loss {metrics['log_loss']:.4f}",
        f"  decisions: approve below {policy.refer_at:g}, refer from {policy.refer_at:g}, "
        f"decline from {policy.decline_at:g}; {len(version.reason_table)} reason codes",
        f"  protected (not in the model): {', '.join(protected) if protected else 'none'}",
        f"  artifact sha256 {version.artifact_sha256}",
    ]
    return "\n".join(lines) + "\n"

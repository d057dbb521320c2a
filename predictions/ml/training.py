"""Train a binary risk model from a CSV-shaped DataFrame and evaluate it on a stratified holdout."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from core.errors import ApplicationError
from core.types import JSON, FeatureRow, JSONObject
from predictions.ml.algorithms import ALGORITHMS, algorithm_get
from predictions.ml.algorithms.common import SEED
from predictions.ml.features import FeatureSpec, SchemaError, encode_frame, infer_schema, to_frame

ALGORITHM_NAMES = tuple(ALGORITHMS)
TEST_SIZE = 0.2
BACKGROUND_ROWS = 100


class TrainingError(ApplicationError, ValueError):
    """The data cannot be used to train a model; the message is one line, fit for a user."""

    code = "training_failed"


@dataclass
class TrainedModel:
    algorithm: str
    schema: list[FeatureSpec]
    target: str
    positive_class: str
    pipeline: Pipeline
    background: np.ndarray  # encoded training rows used as the SHAP background (hgb) and self-check
    background_mean: np.ndarray  # mean of the transformed training matrix (logistic)
    metrics: JSONObject
    training_sha256: str
    training_rows: int
    train_encoded: np.ndarray | None = None  # the training split (not persisted)
    holdout_encoded: np.ndarray | None = None  # the holdout split (not persisted)
    # The holdout as the CSV gave it (every column but the target) with its 0/1 outcomes: what
    # a release gate scores with both a candidate and the champion, whatever their features.
    holdout_rows: list[FeatureRow] | None = None
    holdout_outcomes: list[int] | None = None
    # Protected attributes: kept out of the features, their values known for fairness monitoring.
    protected: list[FeatureSpec] = field(default_factory=list)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_training_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise TrainingError(f"CSV file not found: {path}")
    try:
        frame = pd.read_csv(path, skipinitialspace=True, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise TrainingError(f"CSV file is empty: {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TrainingError(f"CSV file could not be parsed: {path}: {str(exc).splitlines()[0]}") from None
    if frame.empty:
        raise TrainingError(f"CSV file has a header but no rows: {path}")
    return frame


def build_pipeline(algorithm: str, schema: Sequence[FeatureSpec]) -> Pipeline:
    """The algorithm's unfitted pipeline: one transformer per feature, in schema order, then the model."""
    return algorithm_get(algorithm).build_pipeline(schema)


def calibration_bins(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> list[JSON]:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(proba, edges[1:-1], right=False), 0, n_bins - 1)
    bins: list[JSON] = []
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_predicted": float(proba[mask].mean()) if count else None,
                "observed_rate": float(y_true[mask].mean()) if count else None,
            }
        )
    return bins


def evaluate(y_true: np.ndarray, proba: np.ndarray) -> JSONObject:
    clipped = np.clip(proba, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "pr_auc": float(average_precision_score(y_true, proba)),
        "brier": float(brier_score_loss(y_true, proba)),
        "log_loss": float(log_loss(y_true, clipped, labels=[0, 1])),
        "calibration": calibration_bins(y_true, proba),
    }


def _labels(
    frame: pd.DataFrame, *, target: str, positive: str, exclude: Sequence[str], protected: Sequence[str] = ()
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows with a target, and the 0/1 labels; TrainingError for a target, exclusion or
    protected column that cannot work."""
    if target not in frame.columns:
        raise TrainingError(
            f"target column {target!r} is not in the CSV (columns: {', '.join(map(str, frame.columns))})"
        )
    for option, columns in (("excluded", exclude), ("protected", protected)):
        missing = [col for col in columns if col not in frame.columns]
        if missing:
            raise TrainingError(f"{option} column(s) not in the CSV: {', '.join(missing)}")
    if target in exclude:
        raise TrainingError("the target column cannot be excluded")
    if target in protected:
        raise TrainingError("the target column cannot be a protected attribute")
    both = sorted(set(exclude) & set(protected))
    if both:
        raise TrainingError(f"column(s) both excluded and protected: {', '.join(both)}")
    frame = frame[frame[target].notna()]
    if frame.empty:
        raise TrainingError(f"target column {target!r} has no values")
    labels = frame[target].astype(str).str.strip()
    classes = sorted(labels.unique())
    if len(classes) != 2:
        raise TrainingError(
            f"target column {target!r} must have exactly 2 classes, found {len(classes)}: {classes[:5]}"
        )
    if str(positive) not in classes:
        raise TrainingError(f"positive value {positive!r} does not occur in {target!r} (classes: {classes})")
    y = (labels == str(positive)).to_numpy(dtype=int)
    if min(int(y.sum()), int(len(y) - y.sum())) < 5:
        raise TrainingError("each class needs at least 5 rows for a stratified holdout")
    return frame, y


def raw_rows(frame: pd.DataFrame) -> list[FeatureRow]:
    """Rows as JSON-ready dicts: Python numbers and strings, None for a missing value."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [
        {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in plain.to_dict("records")
    ]


def holdout_split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The row indexes of the training and holdout splits: stratified, seeded, so reproducible."""
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=TEST_SIZE, stratify=y, random_state=SEED, shuffle=True
    )
    return np.asarray(idx_train), np.asarray(idx_test)


def training_rows_split(
    frame: pd.DataFrame, *, schema: Sequence[FeatureSpec], target: str, positive: str
) -> tuple[np.ndarray, np.ndarray]:
    """The encoded training and holdout rows of a training CSV, split exactly as :func:`train` split it."""
    frame, y = _labels(frame, target=target, positive=positive, exclude=())
    missing = [spec.name for spec in schema if spec.name not in frame.columns]
    if missing:
        raise TrainingError(f"the CSV lacks the model's feature column(s): {', '.join(missing)}")
    try:
        encoded = encode_frame(frame, schema)
    except SchemaError as exc:
        raise TrainingError(str(exc)) from None
    idx_train, idx_test = holdout_split(y)
    return encoded[idx_train], encoded[idx_test]


def protected_schema(frame: pd.DataFrame, names: Sequence[str]) -> list[FeatureSpec]:
    """The protected columns' specs (all optional: a request may leave them out). Groups are their
    values, so they must be categories or booleans: a number would make a group of every value."""
    try:
        specs = infer_schema(frame[list(names)])
    except SchemaError as exc:
        raise TrainingError(str(exc)) from None
    numeric = [spec.name for spec in specs if spec.type in ("number", "integer")]
    if numeric:
        raise TrainingError(
            f"protected column(s) {', '.join(numeric)} hold numbers: group them into categories "
            "(for example age bands) in the CSV first"
        )
    return [replace(spec, required=False) for spec in specs]


def _encoded_features(
    features: pd.DataFrame, *, descriptions: Mapping[str, str] | None
) -> tuple[list[FeatureSpec], np.ndarray]:
    if features.shape[1] == 0:
        raise TrainingError("no feature columns left after excluding the target and --exclude")
    try:
        schema = infer_schema(features, descriptions=descriptions)
        return schema, encode_frame(features, schema)
    except SchemaError as exc:
        raise TrainingError(str(exc)) from None


def train(
    frame: pd.DataFrame,
    *,
    target: str,
    positive: str,
    algorithm: str = "logistic",
    exclude: Sequence[str] = (),
    protected: Sequence[str] = (),
    descriptions: Mapping[str, str] | None = None,
    training_sha256: str = "",
) -> TrainedModel:
    algorithm_get(algorithm)  # an unknown name fails before any work
    frame, y = _labels(frame, target=target, positive=positive, exclude=exclude, protected=protected)
    protected_specs = protected_schema(frame, protected) if protected else []
    features = frame.drop(columns=[target, *exclude, *protected])
    schema, encoded = _encoded_features(features, descriptions=descriptions)
    idx_train, idx_test = holdout_split(y)
    x_train, x_test = encoded[idx_train], encoded[idx_test]
    y_train, y_test = y[idx_train], y[idx_test]

    pipeline = build_pipeline(algorithm, schema)
    pipeline.fit(to_frame(schema, x_train), y_train)
    proba = pipeline.predict_proba(to_frame(schema, x_test))[:, 1]
    metrics = evaluate(y_test, proba)
    metrics.update(
        {"n_train": len(y_train), "n_test": len(y_test), "base_rate": float(y_train.mean()), "algorithm": algorithm}
    )

    transformed_train = pipeline.named_steps["prep"].transform(to_frame(schema, x_train))
    rng = np.random.default_rng(SEED)
    take = rng.choice(len(x_train), size=min(BACKGROUND_ROWS, len(x_train)), replace=False)
    return TrainedModel(
        algorithm=algorithm,
        schema=schema,
        target=target,
        positive_class=str(positive),
        pipeline=pipeline,
        background=x_train[np.sort(take)],
        background_mean=np.asarray(transformed_train, dtype=np.float64).mean(axis=0),
        metrics=metrics,
        training_sha256=training_sha256,
        training_rows=len(y),
        train_encoded=x_train,
        holdout_encoded=x_test,
        holdout_rows=raw_rows(frame.iloc[idx_test].drop(columns=[target])),
        holdout_outcomes=[int(v) for v in y_test],
        protected=protected_specs,
    )

"""Histogram gradient boosting with native categories; exact interventional Tree SHAP."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from predictions.ml.algorithms import Algorithm
from predictions.ml.algorithms.common import BASE_TYPES, SEED, Step, column_transformer, decision_log_odds
from predictions.ml.explain import Explainer, TreeExplainer
from predictions.ml.features import FeatureSpec


def build_pipeline(schema: Sequence[FeatureSpec]) -> Pipeline:
    steps: list[Step] = []
    for j, spec in enumerate(schema):
        step: OrdinalEncoder | str = "passthrough"
        if spec.type == "category":
            step = OrdinalEncoder(
                categories=[list(spec.choices)],
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
            )
        steps.append((f"f{j}", step, [spec.name]))
    model = HistGradientBoostingClassifier(
        categorical_features=[spec.type == "category" for spec in schema],
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        l2_regularization=1.0,
        random_state=SEED,
    )
    return Pipeline([("prep", column_transformer(steps)), ("model", model)])


def build_explainer(
    pipeline: Pipeline, schema: list[FeatureSpec], background: np.ndarray, mean: np.ndarray
) -> Explainer:

    return TreeExplainer(pipeline, schema, background)


ALGORITHM: Algorithm = Algorithm(
    name="hgb",
    description="HistGradientBoostingClassifier with native categorical support",
    build_pipeline=build_pipeline,
    build_explainer=build_explainer,
    log_odds=decision_log_odds,
    trusted_types=(
        *BASE_TYPES,
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.preprocessing._encoders.OrdinalEncoder",
        "sklearn.preprocessing._label.LabelEncoder",
    ),
)

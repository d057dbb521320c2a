"""Logistic regression on one-hot categories and standardised numbers; exact linear SHAP."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from predictions.ml.algorithms import Algorithm
from predictions.ml.algorithms.common import BASE_TYPES, LINEAR_PREP_TYPES, decision_log_odds, linear_prep
from predictions.ml.explain import Explainer, LinearExplainer
from predictions.ml.features import FeatureSpec


def build_pipeline(schema: Sequence[FeatureSpec]) -> Pipeline:
    return Pipeline([("prep", linear_prep(schema)), ("model", LogisticRegression(C=1.0, max_iter=5000))])


def build_explainer(
    pipeline: Pipeline, schema: list[FeatureSpec], background: np.ndarray, mean: np.ndarray
) -> Explainer:

    model = pipeline.named_steps["model"]
    return LinearExplainer(pipeline, schema, mean, coef=model.coef_[0], intercept=float(model.intercept_[0]))


ALGORITHM: Algorithm = Algorithm(
    name="logistic",
    description="logistic regression (imputation, scaling, one-hot)",
    build_pipeline=build_pipeline,
    build_explainer=build_explainer,
    log_odds=decision_log_odds,
    trusted_types=(*BASE_TYPES, *LINEAR_PREP_TYPES, "sklearn.linear_model._logistic.LogisticRegression"),
)

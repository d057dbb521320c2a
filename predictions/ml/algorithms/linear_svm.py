"""A linear SVM with Platt (sigmoid) calibration; exact linear SHAP of its calibrated log-odds.

``CalibratedClassifierCV(LinearSVC, method="sigmoid", ensemble=False)`` fits one SVM on all the
training rows and one sigmoid on cross-validated decisions, so P(positive) = 1 / (1 + exp(a f(x) + b))
with f(x) = w . t(x) + c. Its log-odds, -(a f(x) + b), are linear in the transformed features with
coefficients -a w and intercept -(a c + b): the linear explainer is exact for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from predictions.ml.algorithms import Algorithm
from predictions.ml.algorithms.common import BASE_TYPES, LINEAR_PREP_TYPES, SEED, linear_prep
from predictions.ml.explain import Explainer, LinearExplainer
from predictions.ml.features import FeatureSpec


def build_pipeline(schema: Sequence[FeatureSpec]) -> Pipeline:
    svm = LinearSVC(C=0.1, max_iter=20_000, random_state=SEED)
    model = CalibratedClassifierCV(svm, method="sigmoid", cv=5, ensemble=False)
    return Pipeline([("prep", linear_prep(schema)), ("model", model)])


def linear_terms(pipeline: Pipeline) -> tuple[np.ndarray, float]:
    """(coefficients over the transformed columns, intercept) of the calibrated log-odds."""
    [calibrated] = pipeline.named_steps["model"].calibrated_classifiers_
    svm = calibrated.estimator
    [sigmoid] = calibrated.calibrators
    a, b = float(sigmoid.a_), float(sigmoid.b_)
    coef = -a * np.asarray(svm.coef_[0], dtype=np.float64)
    return coef, -(a * float(svm.intercept_[0]) + b)


def log_odds(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    coef, intercept = linear_terms(pipeline)
    transformed = np.asarray(pipeline.named_steps["prep"].transform(frame), dtype=np.float64)
    values: np.ndarray = transformed @ coef + intercept
    return values


def build_explainer(
    pipeline: Pipeline, schema: list[FeatureSpec], background: np.ndarray, mean: np.ndarray
) -> Explainer:

    coef, intercept = linear_terms(pipeline)
    return LinearExplainer(pipeline, schema, mean, coef=coef, intercept=intercept)


ALGORITHM: Algorithm = Algorithm(
    name="linear_svm",
    description="linear SVM with sigmoid calibration (imputation, scaling, one-hot)",
    build_pipeline=build_pipeline,
    build_explainer=build_explainer,
    log_odds=log_odds,
    trusted_types=(
        *BASE_TYPES,
        *LINEAR_PREP_TYPES,
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.svm._classes.LinearSVC",
    ),
)

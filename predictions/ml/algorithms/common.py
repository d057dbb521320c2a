"""Pieces the algorithms share: the per-feature preprocessing, and the types every artifact holds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from predictions.ml.features import MISSING_CATEGORY, FeatureSpec

SEED = 42

BASE_TYPES: tuple[str, ...] = (
    "builtins.bool", "builtins.float", "builtins.int", "builtins.dict", "builtins.list", "builtins.slice",
    "builtins.str", "builtins.tuple", "functools.partial", "numpy.dtype", "numpy.bool_", "numpy.float32",
    "numpy.float64", "numpy.int32", "numpy.int64", "numpy.ndarray", "numpy.random._generator.Generator",
    "numpy.uint64", "sklearn.compose._column_transformer.ColumnTransformer", "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._function_transformer.FunctionTransformer", "sklearn.utils.validation.check_array",
)  # fmt: skip
# What the one-hot / scaled preprocessing of the linear models adds.
LINEAR_PREP_TYPES: tuple[str, ...] = (
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
)


# (name, a transformer or "passthrough", its one column): one step per feature
Step = tuple[str, TransformerMixin | str, list[str]]


def column_transformer(steps: list[Step]) -> ColumnTransformer:
    return ColumnTransformer(steps, sparse_threshold=0.0, verbose_feature_names_out=False)


def linear_prep(schema: Sequence[FeatureSpec]) -> ColumnTransformer:
    """One transformer per feature, in schema order (each output column maps back to one feature):
    categories imputed and one-hot encoded, numbers imputed by the median and standardised."""
    steps: list[Step] = []
    for j, spec in enumerate(schema):
        step: Pipeline
        if spec.type == "category":
            step = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
                    ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                ]
            )
        else:
            step = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        steps.append((f"f{j}", step, [spec.name]))
    return column_transformer(steps)


def decision_log_odds(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """The log-odds of models whose decision function is their log-odds (logistic, boosting)."""
    return np.asarray(pipeline.decision_function(frame), dtype=np.float64)

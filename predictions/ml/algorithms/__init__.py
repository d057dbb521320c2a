"""The algorithm table: one entry per algorithm, the only place that knows them apart.

An entry says how to build its scikit-learn pipeline for a schema (one transformer per feature, in
schema order, then the model), how to compile an exact explainer of its log-odds, and which types
its skops artifacts may contain. Training, the explainers, the tabular embedding, the artifact
allowlist and the ``--algorithm`` choices all read this table; adding an algorithm is one module
and one line below (docs/architecture.md shows the steps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.errors import ApplicationError
from predictions.ml.explain import Explainer, ExplainerMismatch
from predictions.ml.features import FeatureSpec, to_frame

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class UnknownAlgorithm(ApplicationError, ValueError):
    code = "unknown_algorithm"


@dataclass(frozen=True)
class Algorithm:
    name: str
    description: str
    # schema -> the unfitted pipeline (steps "prep" and "model")
    build_pipeline: Callable[[Sequence[FeatureSpec]], Pipeline]
    # (fitted pipeline, schema, background rows, background mean) -> the exact explainer
    build_explainer: Callable[[Pipeline, list[FeatureSpec], np.ndarray, np.ndarray], Explainer]
    # (fitted pipeline, a frame of rows) -> the model's own log-odds, to check the explainer against
    log_odds: Callable[[Pipeline, pd.DataFrame], np.ndarray]
    trusted_types: tuple[str, ...]


# The modules define their entries with the class above, so they are imported after it.
from predictions.ml.algorithms import hgb, linear_svm, logistic  # noqa: E402

# The table. A new algorithm: a module beside these three, and its ALGORITHM here.
ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (logistic.ALGORITHM, hgb.ALGORITHM, linear_svm.ALGORITHM)}


def algorithm_get(name: str) -> Algorithm:
    """The entry for ``name``; UnknownAlgorithm (a clear one-line error) for any other name."""
    if name not in ALGORITHMS:
        raise UnknownAlgorithm(f"unknown algorithm {name!r}; use one of: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def trusted_types() -> tuple[str, ...]:
    """Every type an artifact of any algorithm may contain."""
    return tuple(sorted({t for entry in ALGORITHMS.values() for t in entry.trusted_types}))


def build_explainer(
    algorithm: str,
    pipeline: Pipeline,
    schema: list[FeatureSpec],
    *,
    background: np.ndarray,
    background_mean: np.ndarray,
    tolerance: float = 1e-6,
) -> Explainer:
    """Compile the pipeline, then check it against the pipeline's own decision function."""
    entry = algorithm_get(algorithm)
    explainer = entry.build_explainer(pipeline, schema, background, background_mean)
    probe = background[: min(len(background), 32)]
    if len(probe):
        expected = entry.log_odds(pipeline, to_frame(schema, probe))
        got = explainer.explain(probe)
        if not np.allclose(got.log_odds, expected, atol=tolerance, rtol=0):
            raise ExplainerMismatch("compiled model disagrees with the pipeline's decision_function")
        if not np.allclose(got.base_log_odds + got.contributions.sum(axis=1), got.log_odds, atol=tolerance, rtol=0):
            raise ExplainerMismatch("explanations do not add up to the model's log-odds")
    return explainer

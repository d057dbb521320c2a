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
from typing import TYPE_CHECKING, Any

from core.errors import ApplicationError

if TYPE_CHECKING:
    import numpy as np
    from sklearn.pipeline import Pipeline

    from predictions.ml.explain import Explainer
    from predictions.ml.features import FeatureSpec


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
    log_odds: Callable[[Pipeline, Any], np.ndarray]
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

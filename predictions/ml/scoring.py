"""Score validated rows: probability, label from the version's bands, and drivers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from core.errors import ApplicationError
from core.types import FeatureValue
from predictions.ml.algorithms import build_explainer
from predictions.ml.artifacts import Artifact, dump_artifact, load_artifact, sha256_hex
from predictions.ml.decisions import (
    APPROVE,
    DecisionPolicy,
    LabelBand,
    Reason,
    ReasonCoder,
    ReasonFamily,
    policy_from_bands,
    reason_table_build,
)
from predictions.ml.explain import Explainer
from predictions.ml.features import FeatureSpec, encode
from predictions.ml.training import TrainedModel

# The label bands a version gets unless it is given its own: low < 0.3 <= medium < 0.6 <= high.
DEFAULT_LABEL_BANDS: tuple[LabelBand, ...] = (
    {"label": "low", "min": 0.0},
    {"label": "medium", "min": 0.3},
    {"label": "high", "min": 0.6},
)


class BandsError(ApplicationError, ValueError):
    """Label bands that do not cover [0, 1] in order."""

    code = "invalid_bands"


def check_label_bands(bands: object) -> list[LabelBand]:
    """Bands are ``[{"label", "min"}, ...]`` with the first ``min`` 0 and strictly increasing mins below 1."""
    if not isinstance(bands, list) or not bands:
        raise BandsError("label bands must be a non-empty list")
    clean: list[LabelBand] = []
    previous = -1.0
    for band in bands:
        if not isinstance(band, Mapping) or not isinstance(band.get("label"), str) or not band["label"]:
            raise BandsError("each band needs a non-empty 'label'")
        low = band.get("min")
        if isinstance(low, bool) or not isinstance(low, int | float) or not 0.0 <= low < 1.0:
            raise BandsError(f"band {band['label']!r} needs a 'min' in [0, 1)")
        if low <= previous:
            raise BandsError("band minimums must increase strictly")
        previous = float(low)
        clean.append({"label": band["label"], "min": float(low)})
    if clean[0]["min"] != 0.0:
        raise BandsError("the first band must start at 0")
    if len({band["label"] for band in clean}) != len(clean):
        raise BandsError("band labels must be unique")
    return clean


class Driver(TypedDict):
    feature: str
    value: FeatureValue
    contribution: float


@dataclass
class Prediction:
    risk_score: float
    risk_label: str
    log_odds: float
    base_log_odds: float
    drivers: list[Driver]
    contributions: np.ndarray  # in schema order
    decision: str
    reasons: list[Reason]  # for a refer or decline; [] for an approval


class ScoringModel:
    """A loaded model version: schema, label bands and a compiled explainer."""

    def __init__(
        self,
        *,
        schema: Sequence[FeatureSpec],
        label_bands: Sequence[LabelBand],
        artifact: Artifact,
        policy: DecisionPolicy | None = None,
        reasons: Sequence[ReasonFamily] | None = None,
    ) -> None:
        self.schema = list(schema)
        self.label_bands = check_label_bands(label_bands)
        self.policy = policy or policy_from_bands(self.label_bands)
        self.reason_coder = ReasonCoder(self.schema, reasons or reason_table_build(self.schema))
        self._band_mins = np.array([band["min"] for band in self.label_bands])
        self._band_labels = [band["label"] for band in self.label_bands]
        self.algorithm = artifact.algorithm
        self.pipeline = artifact.pipeline
        self.explainer: Explainer = build_explainer(
            artifact.algorithm,
            artifact.pipeline,
            self.schema,
            background=artifact.background,
            background_mean=artifact.background_mean,
        )

    def labels_for(self, scores: np.ndarray) -> list[str]:
        index = np.searchsorted(self._band_mins, scores, side="right") - 1
        return [self._band_labels[i] for i in np.clip(index, 0, len(self._band_labels) - 1)]

    def predict_encoded(self, encoded: np.ndarray, rows: Sequence[Mapping[str, FeatureValue]]) -> list[Prediction]:
        """One vectorised score+explain call for all rows."""
        explanation = self.explainer.explain(encoded)
        scores = explanation.probability
        labels = self.labels_for(scores)
        decisions = self.policy.decide(scores)
        adverse = [i for i, decision in enumerate(decisions) if decision != APPROVE]
        reasons = dict(zip(adverse, self.reason_coder.reasons_many(explanation.contributions[adverse]), strict=True))
        names = [spec.name for spec in self.schema]
        order = np.argsort(-np.abs(explanation.contributions), axis=1, kind="stable").tolist()
        contributions = explanation.contributions.tolist()
        score_list = scores.tolist()
        log_odds = explanation.log_odds.tolist()
        base = float(explanation.base_log_odds)
        out = []
        for i, row in enumerate(rows):
            row_contributions = contributions[i]
            drivers: list[Driver] = [
                {"feature": names[j], "value": row.get(names[j]), "contribution": row_contributions[j]}
                for j in order[i]
            ]
            out.append(
                Prediction(
                    risk_score=score_list[i],
                    risk_label=labels[i],
                    log_odds=log_odds[i],
                    base_log_odds=base,
                    drivers=drivers,
                    contributions=explanation.contributions[i],
                    decision=decisions[i],
                    reasons=reasons.get(i, []),
                )
            )
        return out

    def predict(self, rows: Sequence[Mapping[str, FeatureValue]]) -> list[Prediction]:
        """``rows`` must be validated (see :func:`predictions.ml.features.validate_features`)."""
        if not rows:
            return []
        return self.predict_encoded(encode(self.schema, rows), rows)


def scoring_model_from_trained(
    trained: TrainedModel,
    label_bands: Sequence[LabelBand],
    policy: DecisionPolicy | None = None,
    reasons: Sequence[ReasonFamily] | None = None,
) -> ScoringModel:
    """Round-trip a freshly trained model through its artifact, exactly as the registry serves it."""
    blob = dump_artifact(
        pipeline=trained.pipeline,
        background=trained.background,
        background_mean=trained.background_mean,
        algorithm=trained.algorithm,
    )
    artifact = load_artifact(blob, expected_sha256=sha256_hex(blob))
    return ScoringModel(
        schema=trained.schema, label_bands=label_bands, artifact=artifact, policy=policy, reasons=reasons
    )

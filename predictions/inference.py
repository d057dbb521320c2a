"""The single inference path used by the API, the UI and the backfill: validate, then score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from predictions.ml.features import validate_features
from predictions.ml.scoring import Prediction
from predictions.selectors import LoadedModel


class FeatureValidationError(Exception):
    """Per-field problems with one input (``errors``) or with items of a batch (``item_errors``)."""

    def __init__(
        self, errors: dict[str, str] | None = None, item_errors: dict[int, dict[str, str]] | None = None
    ) -> None:
        self.errors = errors or {}
        self.item_errors = item_errors or {}
        count = len(self.errors) or sum(len(e) for e in self.item_errors.values())
        super().__init__(f"{count} invalid feature value(s)")


def inference_validate(*, model: LoadedModel, features: Any) -> dict[str, Any]:
    result = validate_features(model.schema, features)
    if not result.ok:
        raise FeatureValidationError(errors=result.errors)
    return result.values


def inference_validate_many(*, model: LoadedModel, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Validate every item; report all bad items (by index) at once."""
    rows: list[dict[str, Any]] = []
    item_errors: dict[int, dict[str, str]] = {}
    for index, features in enumerate(items):
        result = validate_features(model.schema, features)
        if result.ok:
            rows.append(result.values)
        else:
            item_errors[index] = result.errors
    if item_errors:
        raise FeatureValidationError(item_errors=item_errors)
    return rows


def inference_predict(*, model: LoadedModel, rows: Sequence[dict[str, Any]]) -> list[Prediction]:
    """Score validated rows with one vectorised predict+explain call."""
    return model.scorer.predict(rows)

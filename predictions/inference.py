"""The single inference path used by the API, the UI and the backfill: validate, then score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import ApplicationError
from predictions.ml.features import validate_features
from predictions.ml.scoring import Prediction
from predictions.selectors import LoadedModel


class FeatureValidationError(ApplicationError):
    """Per-field problems with one input (``errors``) or with items of a batch (``item_errors``);
    ``fields`` names each as ``features.<name>`` or ``items[<i>].features.<name>``."""

    code = "invalid_features"

    def __init__(
        self, errors: dict[str, str] | None = None, item_errors: dict[int, dict[str, str]] | None = None
    ) -> None:
        self.errors = errors or {}
        self.item_errors = item_errors or {}
        fields = {f"features.{name}": message for name, message in self.errors.items()}
        for index, problems in sorted(self.item_errors.items()):
            fields.update({f"items[{index}].features.{name}": message for name, message in problems.items()})
        noun = "feature" if self.errors else "item"
        count = len(self.errors) or len(self.item_errors)
        super().__init__(f"{count} invalid {noun}{'s' if count != 1 else ''}; nothing was stored.", fields=fields)


def inference_validate(*, model: LoadedModel, features: Any) -> dict[str, Any]:
    result = validate_features(model.schema, features)
    if not result.ok:
        raise FeatureValidationError(errors=result.errors)
    return result.values


def inference_read_as(*, model: LoadedModel, row: dict[str, Any]) -> dict[str, Any] | None:
    """Another version's validated row as ``model`` reads it (only its own features, validated by its
    schema), or None if it cannot: how a challenger or a replay reads a stored or served row."""
    names = model.feature_names
    result = validate_features(model.schema, {name: value for name, value in row.items() if name in names})
    return result.values if result.ok else None


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

"""The single inference path used by the API, the UI and the backfill: validate, then score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.errors import ApplicationError
from core.types import FeatureRow, FeatureValue
from predictions.ml import features as ml_features
from predictions.ml.features import validate_features, validate_protected
from predictions.ml.scoring import Prediction
from predictions.selectors import LoadedModel


class FeatureValidationError(ApplicationError):
    """Per-field problems with one input (``errors``, and ``protected`` for its protected
    attributes) or with items of a batch (``item_errors``, ``item_protected``, by index); ``fields``
    names each as ``features.<name>``, ``protected.<name>`` or ``items[<i>].features.<name>``."""

    code = "invalid_features"

    def __init__(
        self,
        errors: dict[str, str] | None = None,
        item_errors: dict[int, dict[str, str]] | None = None,
        protected: dict[str, str] | None = None,
        item_protected: dict[int, dict[str, str]] | None = None,
    ) -> None:
        self.errors = errors or {}
        self.item_errors = item_errors or {}
        self.protected = protected or {}
        self.item_protected = item_protected or {}
        fields = {f"features.{name}": message for name, message in self.errors.items()}
        fields.update({f"protected.{name}": message for name, message in self.protected.items()})
        for index in sorted({*self.item_errors, *self.item_protected}):
            problems = self.item_errors.get(index, {})
            fields.update({f"items[{index}].features.{name}": message for name, message in problems.items()})
            hidden = self.item_protected.get(index, {})
            fields.update({f"items[{index}].protected.{name}": message for name, message in hidden.items()})
        single = bool(self.errors or self.protected)
        noun = "input" if single and self.protected else ("feature" if single else "item")
        count = len(self.errors) + len(self.protected) if single else len({*self.item_errors, *self.item_protected})
        super().__init__(f"{count} invalid {noun}{'s' if count != 1 else ''}; nothing was stored.", fields=fields)

    def item(self, index: int) -> FeatureValidationError:
        """The errors of one item of a batch, named as for a single input."""
        return FeatureValidationError(
            errors=self.item_errors.get(index, self.errors), protected=self.item_protected.get(index, self.protected)
        )


PROTECTED_IN_FEATURES = "A protected attribute: send it in 'protected'; it is never used for the score."


def inference_validate(*, model: LoadedModel, features: object) -> FeatureRow:
    result = validate_features(model.schema, features)
    if not result.ok:
        raise FeatureValidationError(errors=result.errors)
    return result.values


def inference_read_as(*, model: LoadedModel, row: Mapping[str, FeatureValue]) -> FeatureRow | None:
    """Another version's validated row as ``model`` reads it (only its own features, validated by its
    schema), or None if it cannot: how a challenger or a replay reads a stored or served row."""
    names = model.feature_names
    result = validate_features(model.schema, {name: value for name, value in row.items() if name in names})
    return result.values if result.ok else None


def inference_validate_many(
    *, model: LoadedModel, items: Sequence[object], protected: Sequence[object] | None = None
) -> tuple[list[FeatureRow], list[FeatureRow]]:
    """Validate every item's features and protected attributes; report all bad items (by index)
    at once. Returns the rows and each item's protected attributes ({} when none was given)."""
    rows: list[FeatureRow] = []
    groups: list[FeatureRow] = []
    item_errors: dict[int, dict[str, str]] = {}
    item_protected: dict[int, dict[str, str]] = {}
    hidden = model.protected_names
    for index, features in enumerate(items):
        result = validate_features(model.schema, features)
        if result.ok:
            rows.append(result.values)
        else:
            item_errors[index] = {
                name: PROTECTED_IN_FEATURES if name in hidden and message == "Unknown feature." else message
                for name, message in result.errors.items()
            }
        given = validate_protected(model.protected, protected[index] if protected is not None else None)
        if given.ok:
            groups.append(given.values)
        else:
            item_protected[index] = given.errors
    if item_errors or item_protected:
        raise FeatureValidationError(item_errors=item_errors, item_protected=item_protected)
    return rows, groups


def inference_encode(*, model: LoadedModel, rows: Sequence[FeatureRow]) -> np.ndarray:
    """Validated rows as the model's matrix: encoded once per request, for the score and the
    tabular embedding alike."""
    return ml_features.encode(model.schema, rows)


def inference_predict(
    *, model: LoadedModel, rows: Sequence[FeatureRow], encoded: np.ndarray | None = None
) -> list[Prediction]:
    """Score validated rows with one vectorised predict+explain call (on ``encoded``, their
    ``inference_encode``, when the caller has it)."""
    if not rows:
        return []
    if encoded is None:
        encoded = inference_encode(model=model, rows=rows)
    return model.scorer.predict_encoded(encoded, rows)

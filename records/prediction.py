"""The prediction use case: validate, score and explain, embed, store as records, count."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from accounts.models import ApiKey
from core.logging import timed
from core.metrics import PREDICTIONS
from core.principal import Principal
from predictions.embedding_runtime import embed_rows
from predictions.inference import FeatureValidationError, inference_predict, inference_validate_many
from predictions.selectors import LoadedModel
from records.models import Record
from records.services import RecordOrigin, record_create_many, records_build


def prediction_create(
    *,
    model: LoadedModel,
    items: Sequence[Any],
    request_id: str = "",
    created_by: Principal | None = None,
    api_key: ApiKey | None = None,
    timestamps: Sequence[datetime] | None = None,
) -> list[Record]:
    """Validate every item, score them in one call, embed them in one call and store them in one insert
    (at ``timestamps``, one per item, when given: the demo history; else now).

    Raises ``FeatureValidationError`` (with every bad item, by index) before anything is stored.
    """
    with timed("score"):
        rows = inference_validate_many(model=model, items=items)
        predictions = inference_predict(model=model, rows=rows)
    embeddings = embed_rows(model=model, rows=rows)  # Server-Timing "embed"
    with timed("insert"):
        origin = RecordOrigin(request_id=request_id, created_by=created_by, api_key=api_key, timestamps=timestamps)
        records = record_create_many(
            records=records_build(model=model, rows=rows, predictions=predictions, embeddings=embeddings, origin=origin)
        )
    for record in records:
        PREDICTIONS.labels(record.model_id, record.risk_label).inc()
    return records


def prediction_create_one(*, model: LoadedModel, features: Any, **client: Any) -> Record:
    """One prediction; its invalid features are named ``features.<name>`` (not as item 0 of a batch)."""
    try:
        [record] = prediction_create(model=model, items=[features], **client)
    except FeatureValidationError as exc:
        raise FeatureValidationError(errors=exc.item_errors.get(0, exc.errors)) from None
    return record

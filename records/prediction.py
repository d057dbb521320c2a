"""The prediction use case: validate, route (champion, canary), score and explain, embed, store as
records with any shadow challenger's results beside them, count."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict, Unpack

from accounts.models import ApiKey
from core.canonical import canonical_sha256
from core.logging import timed
from core.metrics import CHALLENGER_FAILURES, PREDICTIONS
from core.principal import Principal
from core.types import FeatureRow
from predictions.embedding_runtime import embed_rows
from predictions.inference import (
    FeatureValidationError,
    inference_encode,
    inference_predict,
    inference_read_as,
    inference_validate_many,
)
from predictions.models import ChallengerFailure
from predictions.selectors import LoadedModel, LoadedRoute
from records.models import Record, ShadowResult
from records.services import (
    RecordOrigin,
    record_create_many,
    records_build,
    shadow_results_build,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Part:
    """The items one version serves: their positions in the request and validated rows."""

    model: LoadedModel
    served_by: str
    indices: list[int]
    rows: list[FeatureRow]


def prediction_create(
    *,
    model: LoadedModel | LoadedRoute,
    items: Sequence[object],
    subjects: Sequence[str | None] | None = None,
    protected: Sequence[object] | None = None,
    request_id: str = "",
    created_by: Principal | None = None,
    api_key: ApiKey | None = None,
    timestamps: Sequence[datetime] | None = None,
    store: bool = True,
) -> list[Record]:
    """Validate every item, route each (a canary's share by applicant), score and embed each
    version's items in one call, and store them all in one transaction (at ``timestamps``, one
    per item, when given: the demo history; else now). A shadow challenger scores the same rows
    after them; its results are stored beside the records and never returned. ``store=False``: a
    dry run, the same records unsaved (no shadow, no metrics, nothing for monitoring to count).

    Each item's ``protected`` attributes (optional) are validated and stored with its record,
    apart from its features: nothing scores, embeds or routes by them.

    Raises ``FeatureValidationError`` (with every bad item, by index) before anything is stored.
    """
    route = model if isinstance(model, LoadedRoute) else LoadedRoute(champion=model)
    with timed("score"):
        rows, groups = inference_validate_many(model=route.champion, items=items, protected=protected)
    parts = _route(route, rows, subjects)
    origin = RecordOrigin(request_id=request_id, created_by=created_by, api_key=api_key, protected=groups)
    placed: list[tuple[int, Record]] = []
    for part in parts:
        try:
            placed.extend(_score_part(part, origin, subjects, timestamps))
        except Exception as exc:
            if part.served_by != "canary":
                raise
            # a failing canary never fails the request: its applicants get the champion this time
            _failure(part.model, "canary", len(part.rows), exc)
            champion_part = _Part(route.champion, "champion", part.indices, [rows[i] for i in part.indices])
            placed.extend(_score_part(champion_part, origin, subjects, timestamps))
    records = [record for _, record in sorted(placed, key=lambda pair: pair[0])]
    if not store:
        return records
    shadows = _shadow(route.shadow, records) if route.shadow is not None else []
    with timed("insert"):
        record_create_many(records=records, shadows=shadows)  # one statement, atomic by itself
    for record in records:
        PREDICTIONS.labels(record.model_id, record.risk_label).inc()
    return records


def subject_key(row: FeatureRow, subject: str | None) -> str:
    """The applicant a canary split hashes: the client's subject_id, else the canonical features."""
    return f"id:{subject}" if subject else f"features:{canonical_sha256(row)}"


def _route(route: LoadedRoute, rows: list[FeatureRow], subjects: Sequence[str | None] | None) -> list[_Part]:
    if route.canary is None:
        return [_Part(route.champion, "pinned" if route.pinned else "champion", list(range(len(rows))), rows)]
    canary = route.canary
    by: dict[str, _Part] = {
        "champion": _Part(route.champion, "champion", [], []),
        "canary": _Part(canary, "canary", [], []),
    }
    for i, row in enumerate(rows):
        _, why = route.serve(subject_key(row, subjects[i] if subjects is not None else None))
        challenger_row = inference_read_as(model=canary, row=row) if why == "canary" else None
        if challenger_row is None:
            why = "champion"  # a row the challenger cannot read is the champion's
        by[why].indices.append(i)
        by[why].rows.append(challenger_row or row)
    return [part for part in by.values() if part.rows]


def _score_part(
    part: _Part,
    origin: RecordOrigin,
    subjects: Sequence[str | None] | None,
    timestamps: Sequence[datetime] | None,
) -> list[tuple[int, Record]]:
    with timed("score"):
        encoded = inference_encode(model=part.model, rows=part.rows)
        predictions = inference_predict(model=part.model, rows=part.rows, encoded=encoded)
    embeddings = embed_rows(model=part.model, rows=part.rows, encoded=encoded)  # Server-Timing "embed"
    part_origin = RecordOrigin(
        request_id=origin.request_id,
        created_by=origin.created_by,
        api_key=origin.api_key,
        timestamps=[timestamps[i] for i in part.indices] if timestamps is not None else None,
        subjects=[subjects[i] for i in part.indices] if subjects is not None else None,
        protected=[origin.protected[i] for i in part.indices] if origin.protected is not None else None,
        served_by=part.served_by,
    )
    records = records_build(
        model=part.model, rows=part.rows, predictions=predictions, embeddings=embeddings, origin=part_origin
    )
    return list(zip(part.indices, records, strict=True))


def _shadow(challenger: LoadedModel, records: list[Record]) -> list[ShadowResult]:
    """The challenger's results for the records it can read; a failure here never fails the request."""
    try:
        with timed("shadow"):
            checked = [(record, inference_read_as(model=challenger, row=record.features_json)) for record in records]
            readable = [record for record, row in checked if row is not None]
            rows = [row for _, row in checked if row is not None]
            predictions = inference_predict(model=challenger, rows=rows) if rows else []
            if len(readable) < len(records):
                CHALLENGER_FAILURES.labels(challenger.model_id, "unreadable").inc(len(records) - len(readable))
            return shadow_results_build(model=challenger, records=readable, predictions=predictions)
    except Exception as exc:
        _failure(challenger, "shadow", len(records), exc)
        return []


def _failure(model: LoadedModel, mode: str, rows: int, exc: Exception) -> None:
    logger.exception("%s scoring by %s failed", mode, model.model_id)
    CHALLENGER_FAILURES.labels(model.model_id, "error").inc(rows)
    ChallengerFailure.objects.create(
        name=model.name, model_version_id=model.pk, mode=mode, rows=rows, error=f"{type(exc).__name__}: {exc}"[:300]
    )


class Client(TypedDict, total=False):
    """Who a prediction is stored for."""

    request_id: str
    created_by: Principal | None
    api_key: ApiKey | None


def prediction_create_one(
    *,
    model: LoadedModel | LoadedRoute,
    features: object,
    subject_id: str | None = None,
    protected: object = None,
    store: bool = True,
    **client: Unpack[Client],
) -> Record:
    """One prediction; its invalid features are named ``features.<name>`` (not as item 0 of a batch)."""
    try:
        [record] = prediction_create(
            model=model, items=[features], subjects=[subject_id], protected=[protected], store=store, **client
        )
    except FeatureValidationError as exc:
        raise exc.item(0) from None
    return record

"""Record writes: scored predictions stored atomically, and idempotent replays."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from accounts.services import user_or_none
from predictions.embedder import embed_rows
from predictions.inference import inference_predict, inference_validate_many
from predictions.selectors import LoadedModel
from records.models import IdempotencyKey, Record
from riskengine.logging import timed
from riskengine.metrics import PREDICTIONS


def record_create_many(
    *,
    model: LoadedModel,
    rows: Sequence[dict[str, Any]],
    predictions: Sequence[Any],
    embeddings: np.ndarray | None,
    request_id: str = "",
    created_by: AbstractBaseUser | AnonymousUser | None = None,
    api_key: Any = None,
) -> list[Record]:
    """One bulk INSERT, in one transaction: either every record exists afterwards or none does."""
    now = timezone.now()
    owner = user_or_none(created_by)
    records = [
        Record(
            timestamp=now,
            model_version_id=model.pk,
            model_id=model.model_id,
            features_json=row,
            embedding=None if embeddings is None else embeddings[i],
            risk_score=prediction.risk_score,
            risk_label=prediction.risk_label,
            base_log_odds=prediction.base_log_odds,
            drivers=prediction.drivers,
            request_id=request_id,
            created_by=owner,
            api_key=api_key,
        )
        for i, (row, prediction) in enumerate(zip(rows, predictions, strict=True))
    ]
    with transaction.atomic():
        return Record.objects.bulk_create(records)


@dataclass
class ScoredRecord:
    record: Record
    prediction: Any


def records_predict(
    *,
    model: LoadedModel,
    items: Sequence[Any],
    request_id: str = "",
    created_by: AbstractBaseUser | AnonymousUser | None = None,
    api_key: Any = None,
) -> list[ScoredRecord]:
    """Validate every item, score them in one call, embed them in one call and store them in one insert.

    Raises ``FeatureValidationError`` (with every bad item) before anything is stored.
    """
    with timed("score"):
        rows = inference_validate_many(model=model, items=items)
        predictions = inference_predict(model=model, rows=rows)
    embeddings = embed_rows(model=model, rows=rows)  # Server-Timing "embed"
    with timed("insert"):
        records = record_create_many(
            model=model,
            rows=rows,
            predictions=predictions,
            embeddings=embeddings,
            request_id=request_id,
            created_by=created_by,
            api_key=api_key,
        )
    for record in records:
        PREDICTIONS.labels(record.model_id, record.risk_label).inc()
    return [ScoredRecord(record=r, prediction=p) for r, p in zip(records, predictions, strict=True)]


class IdempotencyConflict(Exception):
    """The key was used before with a different request body."""


def request_fingerprint(*, endpoint: str, body: Any) -> str:
    canonical = json.dumps({"endpoint": endpoint, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_call(
    *,
    key: str,
    owner: AbstractBaseUser | AnonymousUser,
    endpoint: str,
    fingerprint: str,
    compute: Callable[[], tuple[int, dict[str, Any]]],
) -> tuple[int, dict[str, Any], bool]:
    """Run ``compute`` at most once per (owner, key) within the TTL; replay its stored response after.

    The stored response commits in the same transaction as whatever ``compute`` writes, and
    concurrent requests with the same key wait on a transaction-level advisory lock, so exactly one
    of them computes. Returns (status, body, replayed).
    """
    owner_id = getattr(owner, "pk", None)
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    with transaction.atomic():
        with transaction.get_connection().cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"idem:{owner_id}:{key}"])
        existing = IdempotencyKey.objects.filter(owner_id=owner_id, key=key).first()
        if existing is not None and existing.created_at < cutoff:
            existing.delete()
            existing = None
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise IdempotencyConflict(key)
            return existing.status_code, existing.response, True
        status_code, body = compute()
        if 200 <= status_code < 300:
            IdempotencyKey.objects.create(
                owner_id=owner_id,
                key=key,
                endpoint=endpoint,
                fingerprint=fingerprint,
                status_code=status_code,
                response=body,
            )
        return status_code, body, False


def idempotency_keys_cleanup(*, now: Any = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def record_set_outcome(
    *, record: Record, outcome: bool, observed_at: Any = None, user: AbstractBaseUser | AnonymousUser | None = None
) -> Record:
    """Record what really happened. Repeating the same outcome changes nothing (idempotent); a
    different outcome corrects the earlier one. The user who set it is kept."""
    if record.outcome == outcome and (observed_at is None or observed_at == record.outcome_observed_at):
        return record
    record.outcome = outcome
    record.outcome_observed_at = observed_at or timezone.now()
    record.outcome_set_by = user_or_none(user)
    record.save(update_fields=["outcome", "outcome_observed_at", "outcome_set_by"])
    return record

"""HTTP idempotency: a client's Idempotency-Key replays the first response instead of storing again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.canonical import canonical_sha256
from core.errors import ApplicationError
from core.principal import Principal
from core.types import JSONObject
from records.models import IdempotencyKey


class IdempotencyConflict(ApplicationError):
    """The key was used before with a different request body."""

    code = "idempotency_key_reused"
    status = 422

    def __init__(self, key: str) -> None:
        super().__init__("This Idempotency-Key was used with a different request body.")
        self.key = key


def request_fingerprint(*, endpoint: str, body: object) -> str:
    return canonical_sha256({"endpoint": endpoint, "body": body})


def idempotent_call(
    *,
    key: str,
    owner: Principal,
    endpoint: str,
    fingerprint: str,
    compute: Callable[[], tuple[int, JSONObject]],
) -> tuple[int, JSONObject, bool]:
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


def idempotency_keys_cleanup(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted

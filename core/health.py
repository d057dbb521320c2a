"""Liveness (``/healthz``) and readiness (``/readyz``) probes."""

from __future__ import annotations

import logging

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

_migrations_applied = False  # once true in a process it stays true: deploys restart processes


def _pending_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    global _migrations_applied
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
        if not _migrations_applied:
            pending = _pending_migrations()
            _migrations_applied = pending == 0
            checks["migrations"] = "ok" if pending == 0 else f"{pending} pending"
        else:
            checks["migrations"] = "ok"
    except Exception as exc:  # any failure to reach the database means not ready
        logger.warning("readiness check failed: %s", exc)
        checks.setdefault("database", "unreachable")
        connection.close_if_unusable_or_obsolete()
    ready = all(value == "ok" for value in checks.values()) and "migrations" in checks
    response = JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
    if not ready:
        response["Retry-After"] = "5"
    return response

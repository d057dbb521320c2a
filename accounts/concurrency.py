"""Fair sharing of the server's threads: at most ``HEAVY_REQUESTS_PER_CLIENT`` heavy requests
(batches, segment scans, monitoring windows, exports) at once per client, across every worker
process, and a statement timeout on what they run.

The slots are PostgreSQL advisory locks held by the request's own connection: shared by every
worker without a table write, and dropped by the server if a worker dies mid-request. A client over
its share gets a 429 with ``Retry-After`` at once instead of a thread; docs/operations.md states the
bound this gives everyone else.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.request import Request
from rest_framework.response import Response

from core.db.router import REPLICA, replica_configured
from core.errors import ApplicationError
from core.net import client_address


class TooManyConcurrentRequests(ApplicationError):
    code = "too_many_concurrent"
    status = 429


class QueryTimeout(ApplicationError):
    code = "query_timeout"
    status = 503


def _slot_key(identity: str, slot: int) -> int:
    digest = hashlib.sha256(f"heavy:{identity}:{slot}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _take_slot(identity: str, limit: int) -> int:
    with connections["default"].cursor() as cursor:
        for slot in range(limit):
            key = _slot_key(identity, slot)
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if cursor.fetchone()[0]:
                return key
    requests = "request" if limit == 1 else "requests"
    raise TooManyConcurrentRequests(
        f"At most {limit} heavy {requests} (batches, scans, exports) at once per client; retry when it has finished.",
        retry_after=2,
    )


def _databases() -> list[BaseDatabaseWrapper]:
    return [connections["default"], *([connections[REPLICA]] if replica_configured() else [])]


def _limit_sessions(timeout: str | None) -> None:
    """A heavy request's database sessions: each statement cut at ``timeout`` and run on one core
    (no parallel workers: one scan would otherwise take every core from everyone else); None: back
    to the server's own settings."""
    for connection in _databases():
        with connection.cursor() as cursor:
            if timeout is None:
                cursor.execute("RESET statement_timeout; RESET max_parallel_workers_per_gather")
            else:
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, false), "
                    "set_config('max_parallel_workers_per_gather', '0', false)",
                    [timeout],
                )


@contextlib.contextmanager
def heavy_request(*, identity: str) -> Iterator[None]:
    """Run the body in one of the client's slots, each statement cut at the heavy timeout."""
    key = _take_slot(identity, settings.HEAVY_REQUESTS_PER_CLIENT)
    seconds = settings.HEAVY_STATEMENT_TIMEOUT_SECONDS
    try:
        _limit_sessions(f"{seconds * 1000}ms")
        yield
    except OperationalError as exc:
        if isinstance(exc.__cause__, psycopg.errors.QueryCanceled):
            raise QueryTimeout(
                f"The query took longer than {seconds} s and was stopped; ask for a shorter window.", retry_after=5
            ) from exc
        raise
    finally:
        with contextlib.suppress(DatabaseError):  # a broken connection dropped its lock and setting itself
            _limit_sessions(None)
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _identity(request: HttpRequest) -> str:
    user = request.user
    return f"user:{user.pk}" if user.is_authenticated else f"address:{client_address(request)}"


def heavy_api(method: Callable[..., Response]) -> Callable[..., Response]:
    """A DRF view method run inside one of its client's heavy slots (errors: the API's error shape)."""

    @wraps(method)
    def wrapper(self: object, request: Request, *args: Any, **kwargs: Any) -> Response:
        with heavy_request(identity=_identity(request)):
            return method(self, request, *args, **kwargs)

    return wrapper


def heavy_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page view run inside one of its user's heavy slots; over the share: a page that says so."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            with heavy_request(identity=_identity(request)):
                return view(request, *args, **kwargs)
        except (TooManyConcurrentRequests, QueryTimeout) as exc:
            response = render(request, "busy.html", {"message": exc.message}, status=exc.status)
            response["Retry-After"] = str(exc.retry_after)
            return response

    return wrapper

"""Rate limits per user or API key, shared by all worker processes through PostgreSQL.

One atomic ``INSERT ... ON CONFLICT ... RETURNING`` per request counts the request in a fixed
window. DRF's cache throttles keep a list of timestamps with a read and a separate write, which on
the database cache costs five statements a request and lets concurrent workers overwrite each
other's counts; this costs one statement and cannot undercount.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import connection
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

_UPSERT = """
INSERT INTO accounts_throttlecounter (key, window_start, count) VALUES (%s, %s, 1)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN accounts_throttlecounter.window_start = EXCLUDED.window_start
                 THEN accounts_throttlecounter.count + 1 ELSE 1 END,
    window_start = EXCLUDED.window_start
RETURNING count
"""


_READ = "SELECT count FROM accounts_throttlecounter WHERE key = %s AND window_start = %s"


def count_in_window(key: str, duration: int, *, increment: bool = True) -> int:
    """Count (and by default add one to) ``key`` in the current fixed window of ``duration`` seconds."""
    window = int(time.time() // duration)
    with connection.cursor() as cursor:
        if increment:
            cursor.execute(_UPSERT, [key, window])
        else:
            cursor.execute(_READ, [key, window])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


class _DatabaseRateThrottle(BaseThrottle):
    scope = ""
    THROTTLE_RATES: dict[str, Any] = SimpleRateThrottle.THROTTLE_RATES

    def __init__(self) -> None:
        rate = self.THROTTLE_RATES[self.scope]
        num_requests, duration = SimpleRateThrottle.parse_rate(self, rate)  # type: ignore[arg-type]
        assert num_requests is not None and duration is not None
        self.num_requests: int = num_requests
        self.duration: int = duration
        self._wait = 0.0

    def get_ident_key(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        key = self.get_ident_key(request)
        if key is None:
            return True
        now = time.time()
        count = count_in_window(f"{self.scope}:{key}", self.duration)
        if count <= self.num_requests:
            return True
        self._wait = (int(now // self.duration) + 1) * self.duration - now
        return False

    def wait(self) -> float:
        return max(1.0, self._wait)


class UserRateThrottle(_DatabaseRateThrottle):
    """Authenticated clients: one budget per user (each API key is its own user)."""

    scope = "user"

    def get_ident_key(self, request: Request) -> str | None:
        if request.user and request.user.is_authenticated:
            return str(request.user.pk)
        return None


class AnonRateThrottle(_DatabaseRateThrottle):
    """Anonymous clients, by address."""

    scope = "anon"

    def get_ident_key(self, request: Request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)

"""Rate limits per user or API key, shared by all worker processes through PostgreSQL.

Each client has one counter row per fixed window, moved by one atomic ``INSERT ... ON CONFLICT
... RETURNING`` (DRF's cache throttles read and write separately, which on the database cache costs
five statements and lets concurrent workers overwrite each other's counts).

A worker does not write that row for every request: it *leases* a few admissions at a time (up to
1 % of the limit, at most ``LEASE_MAX``) by adding them to the shared count, and spends them
locally. The shared count is therefore never below what the workers admitted, so a limit holds
across every worker and thread; the price is that admissions leased by one worker and not spent
there are not available to the others, so a client spread over W workers can be refused up to
(W - 1) x 1 % of its limit early, never late. Small limits (under 200 a window) lease one
admission at a time and are exact. A window whose shared count has reached the limit is refused
without asking the database again until it ends.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import connection
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from accounts.models import ThrottleCounter
from core.net import client_address

COUNTERS = ThrottleCounter._meta.db_table
_UPSERT = f"""
INSERT INTO {COUNTERS} AS c (key, window_start, count) VALUES (%s, %s, %s)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN c.window_start = EXCLUDED.window_start THEN c.count + EXCLUDED.count ELSE EXCLUDED.count END,
    window_start = EXCLUDED.window_start
RETURNING count
"""  # noqa: S608 - the table name is the model's

_READ = f"SELECT count FROM {COUNTERS} WHERE key = %s AND window_start = %s"  # noqa: S608

LEASE_FRACTION = 100  # a worker leases at most 1 % of a limit at a time ...
LEASE_MAX = 50  # ... and never more than this many admissions
_PRUNE_AT = 10_000  # leases kept per process before the ended ones are dropped


def counter_key(scope: str, identity: str) -> str:
    """A fixed-length key for any identity (a long address or username cannot overflow the column)."""
    return f"{scope}:{hashlib.sha256(identity.encode('utf-8', 'surrogatepass')).hexdigest()}"


def count_at(key: str, window: int, add: int) -> int:
    """The shared count of ``key`` in fixed window number ``window``, after adding ``add`` (0 only reads)."""
    with connection.cursor() as cursor:
        if add:
            cursor.execute(_UPSERT, [key, window, add])
        else:
            cursor.execute(_READ, [key, window])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def lease_size(limit: int) -> int:
    return max(1, min(LEASE_MAX, limit // LEASE_FRACTION))


@dataclass
class _Lease:
    window: int
    ends_at: float
    spare: int = 0  # admissions leased and not yet spent
    exhausted: bool = False  # the shared count has reached the limit in this window


class LeaseBook:
    """One process's leased admissions, per rate-limit key (thread-safe)."""

    def __init__(self) -> None:
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._leases.clear()

    def admit(self, key: str, *, limit: int, duration: int) -> bool:
        """Whether one more request of ``key`` fits in ``limit`` per ``duration`` seconds, counted
        in the shared table across every worker."""
        now = time.time()
        window = int(now // duration)
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease.window == window:
                if lease.spare:
                    lease.spare -= 1
                    return True
                if lease.exhausted:
                    return False
        size = lease_size(limit)
        before = count_at(key, window, size) - size  # the row's count before our addition
        granted = max(0, min(size, limit - before))
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or lease.window != window:
                if len(self._leases) >= _PRUNE_AT:
                    self._leases = {k: v for k, v in self._leases.items() if v.ends_at > now}
                lease = self._leases[key] = _Lease(window=window, ends_at=(window + 1) * duration)
            lease.exhausted = lease.exhausted or granted < size
            if not granted:
                return False
            lease.spare += granted - 1
            return True


leases = LeaseBook()


class _DatabaseRateThrottle(BaseThrottle):
    scope = ""
    THROTTLE_RATES: dict[str, Any] = SimpleRateThrottle.THROTTLE_RATES

    def __init__(self) -> None:
        rate = self.THROTTLE_RATES[self.scope]
        num_requests, duration = SimpleRateThrottle.parse_rate(self, rate)  # type: ignore[arg-type]  # borrowed unbound
        assert num_requests is not None and duration is not None
        self.num_requests: int = num_requests
        self.duration: int = duration
        self._wait = 0.0

    def get_ident_key(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        ident = self.get_ident_key(request)
        if ident is None:
            return True
        if leases.admit(counter_key(self.scope, ident), limit=self.num_requests, duration=self.duration):
            return True
        now = time.time()
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
    """Anonymous clients, by address (X-Forwarded-For only through TRUSTED_PROXIES)."""

    scope = "anon"

    def get_ident_key(self, request: Request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return client_address(request)

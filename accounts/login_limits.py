"""Limits on password guessing, shared by the web login, the admin login and ``POST /api/token/``.

An attempt is counted *before* the password is checked, by one atomic ``UPSERT ... RETURNING`` per
counter, so parallel attempts can never overshoot a limit; an attempt that succeeds is refunded, so
only failures use up the budget. Three counters per attempt, each over the same 15-minute window:
the (username, address) pair has ``LOGIN_ATTEMPTS_PER_15_MIN``; the username alone (from every
address) and the address alone (for every username) have ``LOGIN_CEILING_FACTOR`` times as many.
Usernames are compared as the login form compares them (NFKC, trimmed, case-folded), so `` admin``
and its full-width spelling share the counters of ``admin``.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import connection

from accounts.throttling import COUNTERS, count_at, counter_key
from core.errors import ApplicationError

WINDOW_SECONDS = 15 * 60
R = TypeVar("R")

_REFUND = f"UPDATE {COUNTERS} SET count = count - 1 WHERE key = ANY(%s) AND window_start = %s AND count > 0"  # noqa: S608


def username_normalise(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().casefold()[:150]


class LoginThrottled(ApplicationError):
    """Too many failed attempts; ``retry_after`` is in seconds."""

    code = "throttled"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed attempts. Try again in {retry_after} seconds.", retry_after=retry_after)


@dataclass(frozen=True)
class LoginAttempt:
    keys: tuple[str, ...]
    window: int


def _counters(scope: str, username: str, address: str) -> list[tuple[str, int]]:
    limit = settings.LOGIN_ATTEMPTS_PER_15_MIN
    ceiling = limit * settings.LOGIN_CEILING_FACTOR
    counters = [(counter_key(f"{scope}-address", address), ceiling)]
    if username:
        counters.append((counter_key(f"{scope}-pair", f"{username}|{address}"), limit))
        counters.append((counter_key(f"{scope}-user", username), ceiling))
    return counters


def _refund(keys: tuple[str, ...], window: int) -> None:
    if keys:
        with connection.cursor() as cursor:
            cursor.execute(_REFUND, [list(keys), window])


def login_attempt_begin(*, username: str, address: str, scope: str = "login") -> LoginAttempt:
    """Count one attempt, or raise ``LoginThrottled`` (counting nothing) if any limit is reached."""
    window = int(time.time() // WINDOW_SECONDS)
    name = username_normalise(username)
    counted: list[str] = []
    for key, limit in _counters(scope, name, address):
        counted.append(key)
        if count_at(key, window, 1) > limit:
            _refund(tuple(counted), window)
            raise LoginThrottled(retry_after=max(1, int((window + 1) * WINDOW_SECONDS - time.time())))
    return LoginAttempt(keys=tuple(counted), window=window)


def login_attempt_succeeded(*, attempt: LoginAttempt) -> None:
    """A successful attempt does not count against the limits."""
    _refund(attempt.keys, attempt.window)


def login_attempt_run(
    *, username: str, address: str, scope: str, attempt: Callable[[], R], succeeded: Callable[[R], bool]
) -> R:
    """Run ``attempt`` as one counted login attempt, refunded if ``succeeded`` says it logged in;
    ``LoginThrottled`` (counting nothing) past the limits."""
    counted = login_attempt_begin(username=username, address=address, scope=scope)
    response = attempt()
    if succeeded(response):
        login_attempt_succeeded(attempt=counted)
    return response


LOGIN_SCOPES = ("login", "token")  # the web and admin login; POST /api/token/


def login_lockout_lift(*, username: str) -> int:
    """Clear the username's own counters (the ceiling that holds it from every address) in every
    scope: the lift for a user locked out by someone else's guessing. Returns the counters cleared."""
    name = username_normalise(username)
    keys = [counter_key(f"{scope}-user", name) for scope in LOGIN_SCOPES]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {COUNTERS} WHERE key = ANY(%s)", [keys])  # noqa: S608 - the model's table
        return int(cursor.rowcount)

"""core.db: a reused connection the server has ended is replaced before a request uses it
(Django's CONN_HEALTH_CHECKS, which the settings turn on)."""

from __future__ import annotations

import time

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _still_running(pid: int) -> bool:
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        return other.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0] > 0
    finally:
        other.close()


def _new_request() -> None:
    """What Django does to the connection between two requests."""
    connection.close_if_unusable_or_obsolete()


def test_it_replaces_a_connection_the_server_ended_before_the_request_uses_it():
    first = _backend_pid()
    _new_request()
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.execute("SELECT pg_terminate_backend(%s)", [first])
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while _still_running(first) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _backend_pid() != first  # no error: the dead connection was dropped and a new one made

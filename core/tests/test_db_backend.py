"""core.db: the connection health check without a round trip on a healthy connection."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from core.db.base import _socket_readable

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _new_request() -> None:
    """What Django does to the connection between two requests."""
    connection.close_if_unusable_or_obsolete()


def test_it_does_not_ping_a_healthy_reused_connection(monkeypatch):
    connection.close()  # a fresh connection, well within CONN_MAX_AGE whatever ran before
    first = _backend_pid()
    _new_request()
    pings: list[bool] = []

    def is_usable() -> bool:
        pings.append(True)
        return True

    monkeypatch.setattr(connection, "is_usable", is_usable)
    assert _backend_pid() == first
    assert pings == []


def test_it_replaces_a_connection_the_server_ended_before_the_request_uses_it():
    first = _backend_pid()
    _new_request()
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.execute("SELECT pg_terminate_backend(%s)", [first])
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while not _socket_readable(connection.connection) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _backend_pid() != first  # no error: the dead connection was dropped and a new one made

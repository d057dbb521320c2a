"""count_in_window: one atomic statement per request, on an unlogged table."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts import throttling
from accounts.throttling import count_in_window

pytestmark = pytest.mark.django_db


def test_it_counts_each_request_in_its_window(monkeypatch):
    monkeypatch.setattr(throttling.time, "time", lambda: 120.0)
    assert [count_in_window("user:1", 60) for _ in range(3)] == [1, 2, 3]
    assert count_in_window("user:2", 60) == 1
    assert count_in_window("user:1", 60, increment=False) == 3
    monkeypatch.setattr(throttling.time, "time", lambda: 180.0)
    assert count_in_window("user:1", 60, increment=False) == 0
    assert count_in_window("user:1", 60) == 1


def test_the_counters_skip_the_write_ahead_log():
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'accounts_throttlecounter'")
        assert cursor.fetchone() == ("u",)

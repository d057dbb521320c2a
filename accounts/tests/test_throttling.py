"""Rate limits: shared counters on an unlogged table, spent by each worker in leases."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.throttling import LeaseBook, count_at, lease_size

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    now = [120.0]
    monkeypatch.setattr("accounts.throttling.time.time", lambda: now[0])
    return now


def test_it_counts_each_request_in_its_window():
    assert [count_at("user:1", 2, 1) for _ in range(3)] == [1, 2, 3]
    assert count_at("user:2", 2, 1) == 1
    assert count_at("user:1", 2, 0) == 3
    assert count_at("user:1", 3, 0) == 0  # the next window starts from nothing
    assert count_at("user:1", 3, 1) == 1


def test_the_counters_skip_the_write_ahead_log():
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'accounts_throttlecounter'")
        assert cursor.fetchone() == ("u",)


def test_a_lease_is_one_percent_of_the_limit_within_bounds():
    assert [lease_size(n) for n in (1, 60, 199, 200, 1200, 5000, 100_000)] == [1, 1, 1, 2, 12, 50, 50]


def test_a_worker_writes_the_shared_count_once_per_lease(clock, django_assert_num_queries):
    book = LeaseBook()
    with django_assert_num_queries(1):
        assert all(book.admit("user:1", limit=1200, duration=60) for _ in range(12))
    assert count_at("user:1", 2, 0) == 12
    with django_assert_num_queries(1):
        assert book.admit("user:1", limit=1200, duration=60)
    assert count_at("user:1", 2, 0) == 24


def test_small_limits_are_exact_and_refused_without_a_query_once_reached(clock, django_assert_num_queries):
    book = LeaseBook()
    assert [book.admit("anon:1", limit=3, duration=60) for _ in range(4)] == [True, True, True, False]
    with django_assert_num_queries(0):
        assert not book.admit("anon:1", limit=3, duration=60)
    clock[0] = 180.0  # the next window
    assert book.admit("anon:1", limit=3, duration=60)
    assert count_at("anon:1", 3, 0) == 1


def test_workers_sharing_a_limit_never_admit_more_than_it(clock):
    workers = [LeaseBook() for _ in range(3)]  # three processes, one shared table
    admitted = sum(workers[i % 3].admit("user:7", limit=1000, duration=60) for i in range(1500))
    assert admitted == 1000
    assert not any(book.admit("user:7", limit=1000, duration=60) for book in workers)


def test_admissions_leased_by_one_worker_are_not_spent_by_another(clock):
    first, second = LeaseBook(), LeaseBook()
    assert sum(first.admit("user:8", limit=1000, duration=60) for _ in range(995)) == 995
    # ``first`` leased the whole limit in tens; its last 5 are its own: ``second`` is refused early.
    assert not second.admit("user:8", limit=1000, duration=60)
    assert sum(first.admit("user:8", limit=1000, duration=60) for _ in range(10)) == 5

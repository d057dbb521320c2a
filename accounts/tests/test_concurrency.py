"""Fair sharing: at most HEAVY_REQUESTS_PER_CLIENT heavy requests at once per client (a 429 with
Retry-After beyond), other clients unaffected, and a statement timeout on what heavy requests run."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.concurrency import _slot_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def other_session(test_database_url):
    """A second database session: another worker's requests, holding slots."""
    with psycopg.connect(test_database_url, autocommit=True) as session:
        yield session


def _hold(session, identity: str) -> None:
    """Every slot of ``identity``, as its other requests running elsewhere would."""
    from django.conf import settings

    for slot in range(settings.HEAVY_REQUESTS_PER_CLIENT):
        assert session.execute("SELECT pg_try_advisory_lock(%s)", [_slot_key(identity, slot)]).fetchone()[0]


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_heavy_request_over_the_clients_share_gets_a_429_and_others_are_served(
    staff_user, admin_user, demo_model, other_session, settings
):
    settings.HEAVY_REQUESTS_PER_CLIENT = 2
    window = {"start": "2026-01-01", "end": "2026-12-31"}
    _hold(other_session, f"user:{staff_user.pk}")  # two scans of this user's running elsewhere
    busy = _client(staff_user).get("/api/monitoring/credit/segments/", window)
    assert busy.status_code == 429 and busy["Retry-After"] == "2"
    assert busy.json()["error"]["code"] == "too_many_concurrent"
    assert "At most 2 heavy requests" in busy.json()["error"]["message"]
    assert _client(admin_user).get("/api/monitoring/credit/segments/", window).status_code == 200  # another client
    assert _client(staff_user).get("/api/records/").status_code == 200  # a light request of the same client

    other_session.execute("SELECT pg_advisory_unlock_all()")  # one of them finished
    assert _client(staff_user).get("/api/monitoring/credit/segments/", window).status_code == 200


def test_a_heavy_request_gives_its_slot_back_whatever_happens(staff_user, demo_model, other_session):
    client = _client(staff_user)
    for _ in range(5):  # more than the limit, one after another: each gave its slot back
        assert (
            client.get("/api/monitoring/credit/segments/", {"start": "2026-01-01", "end": "2025-01-01"}).status_code
            == 400
        )
    _hold(other_session, f"user:{staff_user.pk}")  # its slot is free for another session
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"  # and the timeout went back to the server's own


def test_a_batch_is_a_heavy_request(api_user, demo_model, german_credit_row, other_session):
    _hold(other_session, f"user:{api_user.pk}")
    body = {"model": "credit", "items": [{"features": german_credit_row}]}
    response = _client(api_user).post("/api/predict/batch/", body, format="json")
    assert response.status_code == 429 and response.json()["error"]["code"] == "too_many_concurrent"


def test_the_monitoring_page_says_busy_rather_than_wait(staff_user, demo_model, other_session):
    """With the default share, one heavy request at a time."""
    _hold(other_session, f"user:{staff_user.pk}")
    client = Client()
    client.force_login(staff_user)
    page = client.get("/monitoring/credit/")
    assert page.status_code == 429 and page["Retry-After"] == "2"
    assert "At most 1 heavy request (batches" in page.content.decode()


def test_a_statement_over_the_heavy_timeout_is_stopped_with_a_clear_503(staff_user, demo_model, settings, monkeypatch):
    settings.HEAVY_STATEMENT_TIMEOUT_SECONDS = 1

    def slow_scan(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
        return []

    monkeypatch.setattr("monitoring.apis.segment_scan", slow_scan)
    response = _client(staff_user).get("/api/monitoring/credit/segments/", {"start": "2026-01-01", "end": "2026-02-01"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "query_timeout"
    assert "longer than 1 s" in response.json()["error"]["message"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(1.5)")  # the session's own timeout is back to none

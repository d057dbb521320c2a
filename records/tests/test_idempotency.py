import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from records.models import IdempotencyKey, Record

PREDICT = "/api/predict/"


def _post(client, body, key, path=PREDICT):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_replays_the_same_response_and_record(jwt_client, german_credit_row):
    body = {"model": "credit", "features": german_credit_row}
    first = _post(jwt_client, body, "order-42")
    second = _post(jwt_client, body, "order-42")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert first["Idempotent-Replayed"] == "false" and second["Idempotent-Replayed"] == "true"
    assert Record.objects.count() == 1


def test_the_same_key_with_another_body_is_422(jwt_client, german_credit_row):
    _post(jwt_client, {"model": "credit", "features": german_credit_row}, "order-43")
    other = _post(jwt_client, {"model": "credit", "features": dict(german_credit_row, age_in_years=30)}, "order-43")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Record.objects.count() == 1


def test_keys_are_per_client_and_per_endpoint_body(jwt_client, german_credit_row, other_api_user):
    body = {"model": "credit", "features": german_credit_row}
    _post(jwt_client, body, "shared-key")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(other_api_user)}")
    assert _post(other, body, "shared-key")["Idempotent-Replayed"] == "false"
    assert Record.objects.count() == 2


def test_batches_are_idempotent_too(jwt_client, german_credit_row):
    body = {"model": "credit", "items": [{"features": german_credit_row}] * 5}
    first = _post(jwt_client, body, "batch-1", "/api/predict/batch/")
    second = _post(jwt_client, body, "batch-1", "/api/predict/batch/")
    assert first.json() == second.json() and Record.objects.count() == 5


def test_failed_requests_are_not_remembered(jwt_client, german_credit_row):
    bad = _post(jwt_client, {"model": "credit", "features": dict(german_credit_row, age_in_years="x")}, "retry-me")
    assert bad.status_code == 400
    good = _post(jwt_client, {"model": "credit", "features": german_credit_row}, "retry-me")
    assert good.status_code == 201 and Record.objects.count() == 1


def test_keys_expire_after_24_hours_and_the_cleanup_command_removes_them(jwt_client, german_credit_row):
    body = {"model": "credit", "features": german_credit_row}
    _post(jwt_client, body, "old-key")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert _post(jwt_client, body, "old-key")["Idempotent-Replayed"] == "false"
    assert Record.objects.count() == 2
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    _post(jwt_client, body, "fresh-key")
    call_command("cleanup_idempotency_keys")
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh-key"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_exactly_one_record(api_user, demo_model, embedder, german_credit_row):
    token = str(AccessToken.for_user(api_user))
    body = {"model": "credit", "features": german_credit_row}
    barrier = threading.Barrier(6)
    results: list[tuple[int, dict]] = []

    def worker() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            response = _post(client, body, "concurrent-key")
            results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [status for status, _ in results] == [201] * 6
    assert len({body["record_id"] for _, body in results}) == 1
    assert Record.objects.count() == 1

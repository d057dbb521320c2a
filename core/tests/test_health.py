import pytest
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder

from core import health


@pytest.fixture(autouse=True)
def _reset_migration_cache(monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)


def test_healthz_answers_without_the_database(client):
    # no django_db mark: any database access here would fail the test
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_is_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_with_pending_migrations(client):
    MigrationRecorder.Migration.objects.filter(app="records").delete()  # every records migration unapplied
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["migrations"].endswith("pending")
    assert response["Retry-After"] == "5"


@pytest.mark.django_db
def test_readyz_is_503_json_when_the_database_is_unreachable(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["checks"]["database"] == "unreachable"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_the_json_404_in_debug_too(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/api/no-such-thing/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["error"] == {"code": "not_found", "message": "No API endpoint at /api/no-such-thing/."}
    slashless = client.get("/api/records").json()["error"]["message"]
    assert slashless == "No API endpoint at /api/records; the endpoint is /api/records/ (with the slash)."


@pytest.mark.django_db
def test_a_post_to_an_unknown_api_path_with_a_session_is_the_json_404_not_a_csrf_page(staff_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post("/api/models/n\u00e4me/release/abort/", {"reason": "x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"

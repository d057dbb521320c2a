"""api_key_authenticate: accepted keys are remembered per process for API_KEY_CACHE_SECONDS."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_authenticate, api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("accounts.services.time.monotonic", fake)
    return fake


def test_it_remembers_an_accepted_key_without_a_query(settings, clock):
    settings.API_KEY_CACHE_SECONDS = 10
    api_key, key = api_key_create(name="cached")
    assert api_key_authenticate(key=key) == api_key
    with CaptureQueriesContext(connection) as queries:
        assert api_key_authenticate(key=key) == api_key
    assert len(queries) == 0


def test_it_refuses_a_key_revoked_elsewhere_once_the_ttl_passes(settings, clock):
    settings.API_KEY_CACHE_SECONDS = 10
    api_key, key = api_key_create(name="revoked-elsewhere")
    assert api_key_authenticate(key=key) == api_key
    # Another process revokes it: this process does not know yet.
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    clock.now += 9
    assert api_key_authenticate(key=key) == api_key
    clock.now += 2
    assert api_key_authenticate(key=key) is None
    clock.now += 60
    assert api_key_authenticate(key=key) is None


def test_it_refuses_a_key_of_a_deactivated_user_once_the_ttl_passes(settings, clock):
    settings.API_KEY_CACHE_SECONDS = 10
    api_key, key = api_key_create(name="deactivated")
    assert api_key_authenticate(key=key) == api_key
    get_user_model().objects.filter(pk=api_key.user_id).update(is_active=False)
    clock.now += 11
    assert api_key_authenticate(key=key) is None


def test_it_forgets_a_key_revoked_in_this_process_at_once(settings, clock):
    settings.API_KEY_CACHE_SECONDS = 300
    api_key, key = api_key_create(name="revoked-here")
    assert api_key_authenticate(key=key) == api_key
    api_key_revoke(api_key=api_key)
    assert api_key_authenticate(key=key) is None


def test_it_never_remembers_a_rejected_key(settings, clock):
    settings.API_KEY_CACHE_SECONDS = 10
    api_key, key = api_key_create(name="wrong-secret")
    wrong = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    assert api_key_authenticate(key=wrong) is None
    with CaptureQueriesContext(connection) as queries:
        assert api_key_authenticate(key=wrong) is None
    assert len(queries) == 1
    assert api_key_authenticate(key=key) == api_key


def test_it_looks_the_key_up_every_time_when_the_cache_is_off(settings, clock):
    settings.API_KEY_CACHE_SECONDS = 0
    api_key, key = api_key_create(name="uncached")
    assert api_key_authenticate(key=key) == api_key
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    assert api_key_authenticate(key=key) is None

"""POST /api/token/ and /api/token/refresh/: limited like the logins, and never a 500."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from conftest import PASSWORD


def _post(url: str, body: dict, headers: dict | None = None) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_get_exactly_the_limit_of_401s(live_server, api_user, settings):
    settings.LOGIN_ATTEMPTS_PER_15_MIN = 10
    url = f"{live_server.url}/api/token/"
    with ThreadPoolExecutor(max_workers=16) as pool:
        # a rotating X-Forwarded-For does not help: without TRUSTED_PROXIES it is not believed
        statuses = list(
            pool.map(
                lambda i: _post(
                    url, {"username": api_user.username, "password": f"guess-{i}"}, {"X-Forwarded-For": f"10.1.{i}.1"}
                ),
                range(100),
            )
        )
    assert statuses.count(401) == 10
    assert statuses.count(429) == 90
    # the right password is refused too until the window ends
    assert _post(url, {"username": api_user.username, "password": PASSWORD}) == 429


@pytest.mark.django_db
def test_a_throttled_login_says_when_to_retry(api_client, api_user, settings):
    settings.LOGIN_ATTEMPTS_PER_15_MIN = 1
    body = {"username": f" {api_user.username.upper()}", "password": "wrong"}
    assert api_client.post("/api/token/", body, format="json").status_code == 401
    response = api_client.post("/api/token/", {"username": api_user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 900


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
@pytest.mark.django_db
def test_successful_logins_do_not_use_up_the_limit(api_client, api_user, settings):
    settings.LOGIN_ATTEMPTS_PER_15_MIN = 2
    for _ in range(5):
        body = {"username": api_user.username, "password": PASSWORD}
        assert api_client.post("/api/token/", body, format="json").status_code == 200


@pytest.mark.django_db
def test_refreshing_a_token_of_a_deleted_user_is_a_401(api_client, api_user):
    refresh = str(RefreshToken.for_user(api_user))
    api_user.delete()
    response = api_client.post("/api/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.django_db
def test_failed_refreshes_are_limited_per_address(api_client, settings):
    settings.LOGIN_ATTEMPTS_PER_15_MIN = 1
    settings.LOGIN_CEILING_FACTOR = 2
    statuses = [
        api_client.post("/api/token/refresh/", {"refresh": "not-a-token"}, format="json").status_code for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


@pytest.mark.django_db
def test_an_unknown_field_in_a_token_request_is_a_400_naming_it(api_client, api_user):
    body = {"username": api_user.username, "password": PASSWORD, "remember_me": True}
    response = api_client.post("/api/token/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"remember_me": "Unknown field."}


def _pair(api_client, user):
    response = api_client.post("/api/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(api_client, refresh):
    return api_client.post("/api/token/refresh/", {"refresh": refresh}, format="json")


@pytest.mark.django_db
def test_a_password_change_revokes_every_token_already_issued(api_client, api_user):
    pair = _pair(api_client, api_user)
    api_user.set_password("a-new-password-for-this-user")
    api_user.save()
    refused = _refresh(api_client, pair["refresh"])
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "authentication_failed"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert api_client.get("/api/records/").status_code == 401
    api_client.credentials()
    fresh = _pair_with(api_client, api_user.username, "a-new-password-for-this-user")
    assert _refresh(api_client, fresh["refresh"]).status_code == 200


def _pair_with(api_client, username, password):
    response = api_client.post("/api/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_a_deactivated_user_cannot_refresh(api_client, api_user):
    pair = _pair(api_client, api_user)
    api_user.is_active = False
    api_user.save(update_fields=["is_active"])
    assert _refresh(api_client, pair["refresh"]).status_code == 401


@pytest.mark.django_db
def test_rotation_never_extends_a_refresh_token_past_its_login(api_client, api_user, monkeypatch):
    from datetime import timedelta

    from rest_framework_simplejwt.utils import aware_utcnow

    clock = "rest_framework_simplejwt.tokens.aware_utcnow"
    monkeypatch.setattr(clock, lambda: aware_utcnow() - timedelta(hours=1))  # the login was an hour ago
    first = _pair(api_client, api_user)["refresh"]
    monkeypatch.setattr(clock, aware_utcnow)
    second = _refresh(api_client, first).json()["refresh"]
    third = _refresh(api_client, second).json()["refresh"]
    claims = [RefreshToken(token, verify=False) for token in (first, second, third)]
    assert claims[0]["exp"] == claims[1]["exp"] == claims[2]["exp"]
    assert len({c["jti"] for c in claims}) == 3
    assert _refresh(api_client, first).status_code == 401  # rotated, so blacklisted


@pytest.mark.django_db
def test_a_bad_token_is_refused_in_a_sentence(api_client):
    refused = _refresh(api_client, "not-a-token")
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "Token is invalid."
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    message = api_client.get("/api/records/").json()["error"]["message"]
    assert message == "Given token not valid for any token type." and "{" not in message


@pytest.mark.django_db
def test_a_locked_out_user_is_let_back_in_by_command(api_client, api_user, settings, capsys):
    from django.core.management import call_command

    settings.LOGIN_ATTEMPTS_PER_15_MIN = 1
    settings.LOGIN_CEILING_FACTOR = 2
    wrong = {"username": api_user.username, "password": "wrong"}
    for address in ("10.0.0.1", "10.0.0.2"):  # someone else guessing, from two addresses
        assert api_client.post("/api/token/", wrong, format="json", REMOTE_ADDR=address).status_code == 401
    right = {"username": api_user.username, "password": PASSWORD}
    assert api_client.post("/api/token/", right, format="json", REMOTE_ADDR="10.0.0.9").status_code == 429
    call_command("login_lockout_lift", api_user.username.upper())
    assert "lock-out lifted (1 counter(s) cleared)" in capsys.readouterr().out
    assert api_client.post("/api/token/", right, format="json", REMOTE_ADDR="10.0.0.9").status_code == 200

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

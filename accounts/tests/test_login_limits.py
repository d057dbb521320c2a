"""Password guessing limits: per (username, address), with higher ceilings per username and per address."""

from __future__ import annotations

import pytest

from accounts.login_limits import LoginThrottled, login_attempt_begin, login_attempt_succeeded, username_normalise

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    settings.LOGIN_ATTEMPTS_PER_15_MIN = 3
    settings.LOGIN_CEILING_FACTOR = 2


def _fail_until_throttled(username: str, address: str) -> int:
    allowed = 0
    for _ in range(20):
        try:
            login_attempt_begin(username=username, address=address)
        except LoginThrottled:
            return allowed
        allowed += 1
    return allowed


def test_it_normalises_usernames_as_the_login_form_does():
    assert username_normalise(" Admin ") == username_normalise("\uff41\uff44\uff4d\uff49\uff4e") == "admin"


def test_spellings_of_one_username_share_its_counter(limits):
    for spelling in ("admin", " admin", "\uff21\uff24\uff2d\uff29\uff2e"):
        login_attempt_begin(username=spelling, address="10.0.0.1")
    with pytest.raises(LoginThrottled) as refused:
        login_attempt_begin(username="Admin", address="10.0.0.1")
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 15 * 60


def test_a_lock_out_from_one_address_leaves_other_addresses_until_the_ceiling(limits):
    assert _fail_until_throttled("admin", "10.0.0.1") == 3
    assert _fail_until_throttled("admin", "10.0.0.2") == 3  # the same user from elsewhere still may
    with pytest.raises(LoginThrottled):  # the per-username ceiling (3 x 2) is reached
        login_attempt_begin(username="admin", address="10.0.0.3")


def test_one_address_spraying_many_usernames_is_stopped(limits):
    allowed = sum(_fail_until_throttled(f"user{i}", "10.0.0.9") for i in range(5))
    assert allowed == 6  # the per-address ceiling


def test_a_successful_attempt_is_refunded(limits):
    for _ in range(10):
        login_attempt_succeeded(attempt=login_attempt_begin(username="admin", address="10.0.0.1"))
    assert _fail_until_throttled("admin", "10.0.0.1") == 3

"""The client address: X-Forwarded-For is believed only as far as TRUSTED_PROXIES says."""

from typing import Any

import pytest
from django.test import RequestFactory

from core.net import client_address, parse_trusted_proxies


def _request(remote: str, forwarded: str | None = None):
    extra: dict[str, Any] = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address(_request("203.0.113.9", "10.0.0.1"), trusted=0) == "203.0.113.9"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),
        (2, "198.51.100.7, 10.0.0.2", "198.51.100.7"),
        (3, "198.51.100.7", "198.51.100.7"),
        (1, "garbage", "10.0.0.1"),
    ],
)
def test_a_count_of_proxies_takes_the_address_the_outermost_one_saw(count, forwarded, expected):
    assert client_address(_request("10.0.0.1", forwarded), trusted=count) == expected


def test_cidr_ranges_walk_back_past_trusted_hops_only():
    trusted = parse_trusted_proxies("10.0.0.0/8, 192.168.0.0/16")
    assert client_address(_request("10.0.0.1", "6.6.6.6, 198.51.100.7, 192.168.1.1"), trusted=trusted) == (
        "198.51.100.7"
    )
    # a direct client (not a trusted proxy) cannot choose its address with the header
    assert client_address(_request("203.0.113.9", "10.9.9.9"), trusted=trusted) == "203.0.113.9"

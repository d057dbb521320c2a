"""Who the client is: its address, believing ``X-Forwarded-For`` only as far as trusted proxies vouch."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TrustedProxies = int | tuple[Network, ...]


def parse_trusted_proxies(text: str) -> TrustedProxies:
    """``TRUSTED_PROXIES``: empty (none), a count of proxies in front, or a comma-separated CIDR list."""
    text = text.strip()
    if not text:
        return 0
    if text.isascii() and text.isdigit():
        count = int(text)
        if count > 10:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES={text} is more proxies than any deployment has.")
        return count
    return parse_networks("TRUSTED_PROXIES", [part.strip() for part in text.split(",") if part.strip()])


def parse_networks(name: str, items: Sequence[str]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in items)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc} (give addresses or CIDR ranges).") from None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in networks)


def client_address(request: HttpRequest, trusted: TrustedProxies | None = None) -> str:
    """The client's address. Without trusted proxies it is the socket's peer (``REMOTE_ADDR``): a
    client-supplied ``X-Forwarded-For`` is ignored. With N proxies it is the address the outermost
    proxy saw; with CIDR ranges, the right-most address not inside them."""
    trusted = settings.TRUSTED_PROXIES if trusted is None else trusted
    remote = str(request.META.get("REMOTE_ADDR") or "")
    if not trusted:
        return remote
    hops = [hop.strip() for hop in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if hop.strip()]
    if isinstance(trusted, int):
        chain = [*hops, remote]
        candidate = chain[-min(trusted + 1, len(chain))]
        return candidate if _address(candidate) is not None else remote
    current = remote
    while hops and _trusted(current, trusted):
        hop = hops.pop()
        if _address(hop) is None:
            break
        current = hop
    return current


def allowed(address: str, networks: Sequence[Network]) -> bool:
    return _trusted(address, networks)

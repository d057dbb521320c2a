"""The webhook POST: a JSON body signed with HMAC-SHA256 (docs/monitoring.md has the scheme), sent
only to public addresses, with no redirects and a wall-clock deadline on the whole exchange.

A target is checked when it is configured and again at every delivery, on the address the POST then
connects to (so a name that resolved to a public address at configuration and to an internal one
later, DNS rebinding, is refused, not followed).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import ApplicationError
from core.types import JSONObject

SIGNATURE_HEADER = "X-Riskengine-Signature"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# With WEBHOOK_ALLOW_LOCAL (local development only): loopback and private ranges, never link-local
# (cloud metadata), multicast, unspecified or reserved addresses.
_LOCAL = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7")
_LOCAL_NETWORKS = tuple(ipaddress.ip_network(network) for network in _LOCAL)
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


class WebhookTargetError(ApplicationError):
    code = "invalid_webhook_target"
    status = 400


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def webhook_target_parse(url: str, *, allow_local: bool) -> Target:
    """An https URL (plain http only with ``allow_local``), with no credentials in it."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookTargetError(f"The URL is malformed ({exc}).", fields={"url": "malformed"}) from None
    if parts.scheme != "https" and not (allow_local and parts.scheme == "http"):
        raise WebhookTargetError("A webhook must be an https:// URL.", fields={"url": "not https"})
    if not parts.hostname:
        raise WebhookTargetError("The URL has no host.", fields={"url": "no host"})
    if parts.username is not None or parts.password is not None:
        raise WebhookTargetError(
            "Credentials do not belong in the URL: the endpoint checks the signature instead.",
            fields={"url": "credentials in the URL"},
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=parts.hostname, port=port, path=path)


def address_allowed(address: IPAddress, *, allow_local: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_global and not (address.is_multicast or address.is_reserved):
        return True
    return allow_local and any(address in network for network in _LOCAL_NETWORKS)


def _getaddrinfo(host: str, port: int) -> list[IPAddress]:
    """The addresses a name resolves to (the seam the tests replace to play a DNS server); an
    address literal is itself."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


def webhook_target_resolve(target: Target, *, allow_local: bool, timeout: float) -> list[IPAddress]:
    """Every address the host resolves to, all of them allowed; a refusal names the first that is not."""
    try:
        addresses = _resolver.submit(_getaddrinfo, target.host, target.port).result(timeout=timeout)
    except FutureTimeout:
        raise WebhookTargetError(f"{target.host} did not resolve in time.", fields={"url": "no answer"}) from None
    except (OSError, ValueError):
        raise WebhookTargetError(f"{target.host} does not resolve.", fields={"url": "does not resolve"}) from None
    refused = [a for a in addresses if not address_allowed(a, allow_local=allow_local)]
    if refused or not addresses:
        where = refused[0] if refused else "nothing"
        raise WebhookTargetError(
            f"{target.host} resolves to {where}, which is not a public address.",
            fields={"url": "not a public address"},
        )
    return addresses


def webhook_body(payload: JSONObject) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed with the secret>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _printable(text: str) -> str:
    # the reason is stored and shown: an endpoint's own bytes in it (NUL included) become "?"
    return "".join(ch if ch.isprintable() else "?" for ch in text[:300])


def _exchange(target: Target, address: IPAddress, body: bytes, headers: dict[str, str], deadline: float) -> int:
    """POST to ``address`` (already checked) and return the status; the whole exchange ends at
    ``deadline``: a timer shuts the socket, so a peer dripping a byte at a time cannot stretch it."""
    raw = socket.create_connection((str(address), target.port), timeout=max(deadline - time.monotonic(), 0.01))
    timer = threading.Timer(max(deadline - time.monotonic(), 0.0), _shut, (raw,))
    timer.start()
    try:
        conn: http.client.HTTPConnection
        if target.scheme == "https":
            conn = http.client.HTTPSConnection(target.host, target.port, context=ssl.create_default_context())
            conn.sock = ssl.create_default_context().wrap_socket(raw, server_hostname=target.host)
        else:
            conn = http.client.HTTPConnection(target.host, target.port)
            conn.sock = raw
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        return int(response.status)
    finally:
        timer.cancel()
        raw.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def webhook_post(*, url: str, secret: str, payload: JSONObject, timeout: float, allow_local: bool) -> PostResult:
    """One POST within ``timeout`` seconds of wall time; never raises: any failure is the result's error."""
    started, deadline = time.perf_counter(), time.monotonic() + timeout
    body = webhook_body(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "riskengine-webhook/1",
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=int(time.time()), body=body),
    }
    code: int | None = None
    try:
        target = webhook_target_parse(url, allow_local=allow_local)
        [address, *_] = webhook_target_resolve(target, allow_local=allow_local, timeout=timeout)
        code = _exchange(target, address, body, headers, deadline)
        error = "" if code < 300 else f"HTTP {code}" + (" (redirects are not followed)" if code < 400 else "")
    except WebhookTargetError as exc:
        error = f"refused: {exc.message}"
    except Exception as exc:  # refused, timed out, TLS, bytes that are not HTTP: this attempt only
        late = time.monotonic() >= deadline
        error = f"no answer within {timeout:g} s" if late else f"{type(exc).__name__}: {exc}"
    return PostResult(status_code=code, error=_printable(error), duration_ms=(time.perf_counter() - started) * 1000)

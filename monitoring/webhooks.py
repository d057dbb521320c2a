"""The webhook POST: a JSON body signed with HMAC-SHA256 (docs/monitoring.md has the scheme)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from core.types import JSONObject

SIGNATURE_HEADER = "X-Riskengine-Signature"


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


def webhook_post(*, url: str, secret: str, payload: JSONObject, timeout: float) -> PostResult:
    """One POST; never raises: any failure is returned as the result's error."""
    body = webhook_body(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "riskengine-webhook/1",
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=int(time.time()), body=body),
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only, checked at configuration
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - as above
            code, error = int(response.status), ""
    except urllib.error.HTTPError as exc:
        code, error = int(exc.code), f"HTTP {exc.code}"
    except Exception as exc:  # refused, timed out, DNS, TLS, a malformed URL, bytes that are not HTTP
        # One endpoint's failure, whatever it is, ends this attempt only: never the scheduler's step.
        # the reason is stored: an endpoint's own bytes in it (NUL included) are shown as "?"
        text = f"{type(exc).__name__}: {exc}"[:300]
        code, error = None, "".join(ch if ch.isprintable() else "?" for ch in text)
    return PostResult(status_code=code, error=error, duration_ms=(time.perf_counter() - started) * 1000)

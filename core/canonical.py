"""One canonical JSON hash, for request fingerprints and backfilled rows alike."""

from __future__ import annotations

import hashlib
import json


def canonical_sha256(value: object) -> str:
    """SHA-256 of ``value`` as sorted, compact JSON (anything not JSON as its ``str``)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()

"""Timestamps as the API writes them."""

from __future__ import annotations

from datetime import datetime


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (``2026-11-27T10:00:00.000000Z``), as every JSON body shows times."""
    return moment.isoformat().replace("+00:00", "Z")

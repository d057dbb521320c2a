"""Command-line options shared by the registry and release commands."""

from __future__ import annotations

from django.core.management.base import CommandError


def policy_option(refer_at: float | None, decline_at: float | None) -> dict[str, float] | None:
    """--refer-at and --decline-at as a policy: both or neither (then the label bands decide)."""
    if refer_at is None and decline_at is None:
        return None
    if refer_at is None or decline_at is None:
        raise CommandError("give --refer-at and --decline-at together")
    return {"refer_at": refer_at, "decline_at": decline_at}

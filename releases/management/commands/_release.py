"""What the release commands share: reading NAME@VERSION and durations, one-line errors."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from core.errors import ApplicationError
from predictions.models import ModelVersion
from predictions.selectors import model_version_get

_DURATION = re.compile(r"([0-9]{1,5})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def version_arg(model_id: str) -> ModelVersion:
    try:
        return ModelVersion.objects.get(pk=model_version_get(model_id=model_id).pk)
    except ApplicationError as exc:
        raise CommandError(str(exc)) from None


def since_arg(value: str | None) -> datetime | None:
    """``30d``, ``12h`` or ``90m`` before now; None for no limit."""
    if not value:
        return None
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        raise CommandError(f"--since {value!r}: give a number and a unit, such as 30d, 12h or 90m")
    return timezone.now() - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})

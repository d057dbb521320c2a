"""Serializer base shared by the API apps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# Every date a query or body may carry: the years 1900 to 2999 in any time zone. Wide enough for any
# history, narrow enough that date arithmetic (a chart's 30-day window) never leaves Python's range.
EARLIEST = datetime(1899, 12, 31, tzinfo=UTC)
LATEST = datetime(3000, 1, 2, tzinfo=UTC)
YEAR_PATTERN = r"^(19|2[0-9])[0-9][0-9]-"
DATE_TIME_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "pattern": YEAR_PATTERN,
    "description": "ISO 8601; the years 1900 to 2999",
}


@extend_schema_field(DATE_TIME_SCHEMA)
class BoundedDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time between EARLIEST and LATEST (a 400 naming the field otherwise)."""

    def to_internal_value(self, value: Any) -> datetime:
        parsed = super().to_internal_value(value)
        if not EARLIEST <= parsed <= LATEST:
            raise serializers.ValidationError("Must be a date-time in the years 1900 to 2999.")
        return parsed


def require_together(attrs: Mapping[str, Any], first: str, second: str, message: str) -> None:
    """A 400 naming the missing one of two parameters that only make sense together."""
    if (attrs.get(first) is None) != (attrs.get(second) is None):
        missing = second if attrs.get(first) is not None else first
        raise serializers.ValidationError({missing: message})


class StrictMixin:
    """Refuses keys a serializer does not define: a misspelt field is a 400 naming it, not silently
    ignored. Every request body is strict, and the schema says so (``additionalProperties: false``,
    core.api.schema.string_constraints)."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                raise serializers.ValidationError({key[:100]: ["Unknown field."] for key in unknown[:20]})
        return super().to_internal_value(data)  # type: ignore[misc]  # a mixin: the stubs cannot see the serializer base


class StrictSerializer(StrictMixin, serializers.Serializer[object]):
    """A serializer with :class:`StrictMixin`."""


class StrictCharField(serializers.CharField):
    """Text only: a number or a boolean is a 400, not silently turned into its digits."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Expected a string.")
        return str(super().to_internal_value(data))


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: 0, 1 or "true" is a 400, as the schema's ``boolean`` says."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError("Expected true or false.")
        return data

"""Serializer base shared by the API apps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


class StrictSerializer(serializers.Serializer[dict]):
    """Refuses keys it does not define: a misspelt field is a 400 naming it, not silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                raise serializers.ValidationError({key[:100]: ["Unknown field."] for key in unknown[:20]})
        return super().to_internal_value(data)

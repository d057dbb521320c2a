"""OpenAPI documentation shared by every API: the one error shape, its responses and common headers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from core.types import JSONObject


class ErrorDetailSerializer(serializers.Serializer[object]):
    """``{"code", "message", "fields"?}``; "fields" would shadow Serializer.fields, hence get_fields."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {
            "code": serializers.CharField(),
            "message": serializers.CharField(),
            "fields": serializers.DictField(
                child=serializers.CharField(), required=False, help_text="Field path -> what is wrong with it"
            ),
        }


class ErrorSerializer(serializers.Serializer[object]):
    error = ErrorDetailSerializer()
    request_id = serializers.CharField()


def _error(code: str, message: str, fields: dict[str, str] | None = None) -> JSONObject:
    example_id = "3f1c2a9b8d7e4f60a1b2c3d4e5f60718"
    error: JSONObject = {"code": code, "message": message}
    if fields:
        error["fields"] = dict(fields)
    return {"error": error, "request_id": example_id}


def error_response(
    status: int, description: str, code: str, message: str, fields: dict[str, str] | None = None
) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[
            OpenApiExample(
                f"{status} {code}", value=_error(code, message, fields), response_only=True, status_codes=[str(status)]
            )
        ],
    )


UNAUTHENTICATED = error_response(
    401, "No or bad credentials", "not_authenticated", "Authentication credentials were not provided."
)
NOT_FOUND = error_response(404, "Unknown model, version or record", "model_not_found", "model 'fraud' does not exist")
TOO_LARGE = error_response(
    413, "Body over MAX_BODY_BYTES", "too_large", "The request body is 9000000 bytes; the limit is 4194304 bytes."
)
UNSUPPORTED = error_response(
    415, "Not application/json", "unsupported_media_type", 'Unsupported media type "text/plain" in request.'
)
CONFLICT = error_response(
    422,
    "Idempotency-Key reused with a different body",
    "idempotency_key_reused",
    "This Idempotency-Key was used with a different request body.",
)
THROTTLED = error_response(
    429, "Too many requests (see Retry-After)", "throttled", "Request was throttled. Expected available in 12 seconds."
)
INVALID = error_response(
    400,
    "Malformed JSON, bad fields, or invalid features (each named)",
    "invalid_features",
    "2 invalid features; nothing was stored.",
    {
        "features.age_in_years": "This feature is required.",
        "features.purpose": "Unknown category 'yacht'; expected one of: ...",
    },
)
MAX_IDEMPOTENCY_KEY = 255  # IdempotencyKey.key's length
IDEMPOTENCY_HEADER = OpenApiParameter(
    name="Idempotency-Key",
    type={"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY, "pattern": r"\S"},
    location=OpenApiParameter.HEADER,
    required=False,
    description="Same key + same body from the same client within 24 h replays the first response (no new record).",
)
REQUEST_ID_HEADER = OpenApiParameter(
    name="X-Request-ID",
    location=OpenApiParameter.HEADER,
    required=False,
    description="Your request id (8-128 of A-Z a-z 0-9 . _ : -); otherwise one is generated. Echoed on every response.",
)

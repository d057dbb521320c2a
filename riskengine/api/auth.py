"""JWT endpoints (simplejwt), documented with examples and the common error shape."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework_simplejwt import views as jwt_views

from predictions import api_docs

_BAD_CREDENTIALS = api_docs.error_response(
    401,
    "Wrong username/password or an invalid token",
    "authentication_failed",
    "No active account found with the given credentials",
)
_INVALID = api_docs.error_response(
    400, "Missing fields", "invalid", "The request has invalid fields.", {"username": "This field is required."}
)


@extend_schema_view(
    post=extend_schema(
        summary="Obtain an access and a refresh token",
        responses={
            200: jwt_views.TokenObtainPairView.serializer_class,
            400: _INVALID,
            401: _BAD_CREDENTIALS,
            429: api_docs.THROTTLED,
        },
        examples=[
            OpenApiExample("Credentials", value={"username": "analyst", "password": "..."}, request_only=True),
            OpenApiExample("Tokens", value={"access": "eyJhbGciOi...", "refresh": "eyJhbGciOi..."}, response_only=True),
        ],
    )
)
class TokenObtainView(jwt_views.TokenObtainPairView):
    pass


@extend_schema_view(
    post=extend_schema(
        summary="Rotate a refresh token (the old one is blacklisted)",
        responses={
            200: jwt_views.TokenRefreshView.serializer_class,
            400: _INVALID,
            401: _BAD_CREDENTIALS,
            429: api_docs.THROTTLED,
        },
    )
)
class TokenRefreshView(jwt_views.TokenRefreshView):
    pass


@extend_schema_view(
    post=extend_schema(
        summary="Check a token",
        responses={200: None, 400: _INVALID, 401: _BAD_CREDENTIALS, 429: api_docs.THROTTLED},
    )
)
class TokenVerifyView(jwt_views.TokenVerifyView):
    pass

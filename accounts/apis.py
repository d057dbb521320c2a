"""JWT endpoints (simplejwt): strict bodies, login limits, documented with the common error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.login_limits import login_attempt_run
from core.api import docs
from core.api.serializers import StrictMixin
from core.net import client_address


def _limited(request: Request, username: str, scope: str, post: Callable[[], Response]) -> Response:
    """Run ``post`` as one counted login attempt (LoginThrottled, a 429 with Retry-After, past the limits)."""
    return login_attempt_run(
        username=username,
        address=client_address(request),
        scope=scope,
        attempt=post,
        succeeded=lambda response: response.status_code == 200,
    )


class TokenObtainSerializer(StrictMixin, jwt_serializers.TokenObtainPairSerializer):
    pass


class TokenVerifySerializer(StrictMixin, jwt_serializers.TokenVerifySerializer):
    pass


class TokenRefreshSerializer(StrictMixin, jwt_serializers.TokenRefreshSerializer):
    """A new pair for a refresh token, which is blacklisted. Refused (401) when its user was deleted
    or deactivated, or changed their password, since it was issued (simplejwt's revoke claim, a hash
    of the password, which access tokens are checked against too). The new refresh token keeps the
    old one's expiry: rotating never extends a login past REFRESH_TOKEN_LIFETIME."""

    def validate(self, attrs: dict[str, object]) -> dict[str, str]:
        refresh = self.token_class(str(attrs["refresh"]))  # type: ignore[arg-type]  # simplejwt decodes the text it is given
        user = (
            get_user_model()
            .objects.filter(**{jwt_settings.USER_ID_FIELD: refresh.payload.get(jwt_settings.USER_ID_CLAIM)})
            .first()
        )
        revoked = user is not None and refresh.payload.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(
            user.password
        )
        if user is None or not jwt_settings.USER_AUTHENTICATION_RULE(user) or revoked:
            raise AuthenticationFailed(self.error_messages["no_active_account"], "no_active_account")
        data = {"access": str(refresh.access_token)}
        expires = refresh.payload["exp"]
        refresh.blacklist()
        refresh.set_jti()
        refresh.set_iat()
        refresh.payload["exp"] = expires  # an absolute lifetime, from the login
        refresh.outstand()
        data["refresh"] = str(refresh)
        return data


class TokenPairSerializer(serializers.Serializer[object]):
    access = serializers.CharField(help_text="Access token (JWT) for Authorization: Bearer")
    refresh = serializers.CharField(help_text="Refresh token: POST it to /api/token/refresh/ for a new pair")


class TokenVerifiedSerializer(serializers.Serializer[object]):
    """An empty object: the token is valid."""


_BAD_CREDENTIALS = docs.error_response(
    401,
    "Wrong username/password or an invalid token",
    "authentication_failed",
    "No active account found with the given credentials",
)
_INVALID = docs.error_response(
    400, "Missing fields", "invalid", "The request has invalid fields.", {"username": "This field is required."}
)


@extend_schema_view(
    post=extend_schema(
        summary="Obtain an access and a refresh token",
        responses={
            200: TokenPairSerializer,
            400: _INVALID,
            401: _BAD_CREDENTIALS,
            429: docs.THROTTLED,
        },
        examples=[
            OpenApiExample("Credentials", value={"username": "analyst", "password": "..."}, request_only=True),
            OpenApiExample("Tokens", value={"access": "eyJhbGciOi...", "refresh": "eyJhbGciOi..."}, response_only=True),
        ],
    )
)
class TokenObtainView(jwt_views.TokenObtainPairView):
    serializer_class = TokenObtainSerializer

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str):  # the serializer answers with a 400 naming the field
            return super().post(request, *args, **kwargs)
        return _limited(request, username, "token", lambda: super(TokenObtainView, self).post(request, *args, **kwargs))


@extend_schema_view(
    post=extend_schema(
        summary="Rotate a refresh token (the old one is blacklisted)",
        responses={
            200: TokenPairSerializer,
            400: _INVALID,
            401: _BAD_CREDENTIALS,
            429: docs.THROTTLED,
        },
    )
)
class TokenRefreshView(jwt_views.TokenRefreshView):
    """Failed refreshes are limited per client address, like failed logins."""

    serializer_class = TokenRefreshSerializer

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _limited(request, "", "refresh", lambda: super(TokenRefreshView, self).post(request, *args, **kwargs))


@extend_schema_view(
    post=extend_schema(
        summary="Check a token",
        responses={200: TokenVerifiedSerializer, 400: _INVALID, 401: _BAD_CREDENTIALS, 429: docs.THROTTLED},
    )
)
class TokenVerifyView(jwt_views.TokenVerifyView):
    serializer_class = TokenVerifySerializer

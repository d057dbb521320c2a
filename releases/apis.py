"""The release API: a model name's release state and timeline, and every release step (superusers)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import docs
from core.errors import ApplicationError
from predictions.models import ModelVersion
from predictions.selectors import model_version_get
from releases import selectors, services
from releases.serializers import (
    CanarySerializer,
    PromoteSerializer,
    ReleaseActionSerializer,
    ReleaseStateSerializer,
    ValidateSerializer,
    ValidationSerializer,
    VersionActionSerializer,
)

NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="The model name")
FORBIDDEN = docs.error_response(
    403, "Not a superuser", "permission_denied", "You do not have permission to perform this action."
)
CONFLICT = docs.error_response(
    409, "A step that cannot be taken now", "release_conflict", "credit@3 failed its gates; validate it, or force"
)
_READ = {401: docs.UNAUTHENTICATED, 403: FORBIDDEN, 404: docs.NOT_FOUND, 429: docs.THROTTLED}
_WRITE = {400: docs.INVALID, 401: docs.UNAUTHENTICATED, 403: FORBIDDEN, 404: docs.NOT_FOUND, 409: CONFLICT}


class SuperuserWrites(permissions.BasePermission):
    """Staff read a release (its timeline names people and reasons); only superusers change one."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return bool(request.user.is_staff)
        return bool(request.user.is_superuser)


def _body(serializer_class: type[serializers.Serializer[object]], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _version(name: str, model_id: str) -> ModelVersion:
    version = model_version_get(model_id=model_id)
    if version.name != name:
        raise ApplicationError(
            f"{model_id} is not a version of {name}.", code="invalid", fields={"model_id": "Not of this model."}
        )
    return ModelVersion.objects.get(pk=version.pk)


@extend_schema(parameters=[NAME])
class ReleaseViewSet(viewsets.ViewSet):
    """``/api/models/{name}/release/``: the state, and the steps validate, shadow, canary, promote,
    rollback and abort."""

    permission_classes = [SuperuserWrites]

    def _state(self, name: str) -> Response:
        return Response(ReleaseStateSerializer(selectors.release_state_get(name=name)).data)

    @extend_schema(operation_id="release_state", responses={200: ReleaseStateSerializer, **_READ})
    def list(self, request: Request, name: str) -> Response:
        return self._state(name)

    @extend_schema(request=ValidateSerializer, responses={201: ValidationSerializer, **_WRITE})
    @action(detail=False, methods=["post"])
    def validate(self, request: Request, name: str) -> Response:
        body = _body(ValidateSerializer, request)
        validation = services.model_validate(model_version=_version(name, body["model_id"]), user=request.user)
        return Response(ValidationSerializer(validation).data, status=201)

    @extend_schema(request=VersionActionSerializer, responses={200: ReleaseStateSerializer, **_WRITE})
    @action(detail=False, methods=["post"])
    def shadow(self, request: Request, name: str) -> Response:
        body = _body(VersionActionSerializer, request)
        version = _version(name, body["model_id"])
        services.release_shadow_start(model_version=version, reason=body["reason"], user=request.user)
        return self._state(name)

    @extend_schema(request=CanarySerializer, responses={200: ReleaseStateSerializer, **_WRITE})
    @action(detail=False, methods=["post"])
    def canary(self, request: Request, name: str) -> Response:
        body = _body(CanarySerializer, request)
        services.release_canary_set(
            model_version=_version(name, body["model_id"]),
            percent=body.get("percent"),
            reason=body["reason"],
            force=body["force"],
            user=request.user,
        )
        return self._state(name)

    @extend_schema(request=PromoteSerializer, responses={200: ReleaseStateSerializer, **_WRITE})
    @action(detail=False, methods=["post"])
    def promote(self, request: Request, name: str) -> Response:
        body = _body(PromoteSerializer, request)
        version = _version(name, body["model_id"])
        services.release_promote(
            model_version=version,
            reason=body["reason"],
            force=body["force"],
            user=request.user,
            decision_policy=body.get("decision_policy"),
        )
        return self._state(name)

    @extend_schema(request=ReleaseActionSerializer, responses={200: ReleaseStateSerializer, **_WRITE})
    @action(detail=False, methods=["post"])
    def rollback(self, request: Request, name: str) -> Response:
        body = _body(ReleaseActionSerializer, request)
        services.release_rollback(name=name, reason=body["reason"], user=request.user)
        return self._state(name)

    @extend_schema(request=ReleaseActionSerializer, responses={200: ReleaseStateSerializer, **_WRITE})
    @action(detail=False, methods=["post"])
    def abort(self, request: Request, name: str) -> Response:
        body = _body(ReleaseActionSerializer, request)
        services.release_abort(name=name, reason=body["reason"], user=request.user)
        return self._state(name)

"""The registry API: the production models' metadata, and every version for clients."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import docs
from core.errors import ApplicationError
from predictions import selectors
from predictions.serializers import (
    MetadataResponseSerializer,
    ModelListResponseSerializer,
    ModelMetadataSerializer,
    ModelSummarySerializer,
    ModelVersionSerializer,
)


class MetadataAccess(BasePermission):
    """Authenticated clients; anyone when METADATA_PUBLIC is set."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(settings.METADATA_PUBLIC or (request.user and request.user.is_authenticated))


class MetadataViewSet(viewsets.ViewSet):
    """Each model's production version, with its feature schema, label bands and metrics, and the
    batch maximum (authenticated clients; anyone with METADATA_PUBLIC)."""

    permission_classes = [MetadataAccess]

    @extend_schema(responses={200: MetadataResponseSerializer, 401: docs.UNAUTHENTICATED, 429: docs.THROTTLED})
    def list(self, request: Request) -> Response:
        versions = selectors.model_version_list_production()
        models = ModelMetadataSerializer(versions, many=True).data
        return Response({"models": models, "batch_max": settings.PREDICT_BATCH_MAX})


class ModelViewSet(viewsets.ViewSet):
    """Every version of every model in the registry (for an API client that is not staff, the
    production versions only)."""

    permission_classes = [IsAuthenticated]
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    @extend_schema(responses={200: ModelListResponseSerializer, 401: docs.UNAUTHENTICATED, 429: docs.THROTTLED})
    def list(self, request: Request) -> Response:
        versions = selectors.model_version_list(user=request.user)
        return Response({"results": ModelVersionSerializer(versions, many=True).data})

    @extend_schema(responses={200: ModelSummarySerializer, 401: docs.UNAUTHENTICATED, 404: docs.NOT_FOUND})
    def retrieve(self, request: Request, name: str) -> Response:
        versions = list(selectors.model_version_list(name=name, user=request.user))
        if not versions:
            raise ApplicationError(f"Model {name!r} does not exist.", code="not_found", status=404)
        production = next((v.model_id for v in versions if v.is_production), None)
        data = {"name": name, "production": production, "versions": versions}
        return Response(ModelSummarySerializer(data).data)

from __future__ import annotations

from typing import Any

from rest_framework import viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from predictions import selectors
from predictions.serializers import ModelMetadataSerializer, ModelSummarySerializer, ModelVersionSerializer
from riskengine.api.errors import ApiError


class MetadataViewSet(viewsets.ViewSet):
    """Public: each model's production version, with its feature schema, label bands and metrics."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    def list(self, request: Request) -> Response:
        versions = selectors.model_version_list_production()
        return Response({"models": ModelMetadataSerializer(versions, many=True).data})


class ModelViewSet(viewsets.ViewSet):
    """Every version of every model in the registry."""

    permission_classes = [IsAuthenticated]
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    def list(self, request: Request) -> Response:
        return Response({"results": ModelVersionSerializer(selectors.model_version_list(), many=True).data})

    def retrieve(self, request: Request, name: str) -> Response:
        versions = list(selectors.model_version_list(name=name))
        if not versions:
            raise ApiError(status_code=404, code="not_found", message=f"Model {name!r} does not exist.")
        production = next((v.model_id for v in versions if v.is_production), None)
        data = {"name": name, "production": production, "versions": versions}
        return Response(ModelSummarySerializer(data).data)

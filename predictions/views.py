from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from predictions import api_docs, selectors
from predictions.inference import FeatureValidationError
from predictions.serializers import (
    BatchPredictionSerializer,
    BatchRequestSerializer,
    MetadataResponseSerializer,
    ModelChoiceSerializer,
    ModelListResponseSerializer,
    ModelMetadataSerializer,
    ModelSummarySerializer,
    ModelVersionSerializer,
    PredictionSerializer,
    PredictRequestSerializer,
)
from records.services import IdempotencyConflict, ScoredRecord, idempotent_call, records_predict, request_fingerprint
from riskengine.api.errors import ApiError

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = api_docs.MAX_IDEMPOTENCY_KEY


class MetadataViewSet(viewsets.ViewSet):
    """Public: each model's production version, with its feature schema, label bands and metrics."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(responses={200: MetadataResponseSerializer, 429: api_docs.THROTTLED}, auth=[])
    def list(self, request: Request) -> Response:
        versions = selectors.model_version_list_production()
        return Response({"models": ModelMetadataSerializer(versions, many=True).data})


class ModelViewSet(viewsets.ViewSet):
    """Every version of every model in the registry."""

    permission_classes = [IsAuthenticated]
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    @extend_schema(responses={200: ModelListResponseSerializer, 401: api_docs.UNAUTHENTICATED, 429: api_docs.THROTTLED})
    def list(self, request: Request) -> Response:
        return Response({"results": ModelVersionSerializer(selectors.model_version_list(), many=True).data})

    @extend_schema(responses={200: ModelSummarySerializer, 401: api_docs.UNAUTHENTICATED, 404: api_docs.NOT_FOUND})
    def retrieve(self, request: Request, name: str) -> Response:
        versions = list(selectors.model_version_list(name=name))
        if not versions:
            raise ApiError(status_code=404, code="not_found", message=f"Model {name!r} does not exist.")
        production = next((v.model_id for v in versions if v.is_production), None)
        data = {"name": name, "production": production, "versions": versions}
        return Response(ModelSummarySerializer(data).data)


def _prediction_body(scored: ScoredRecord, request_id: str) -> dict[str, Any]:
    record = scored.record
    return {
        "record_id": str(record.id),
        "model_id": record.model_id,
        "risk_score": record.risk_score,
        "risk_label": record.risk_label,
        "base_log_odds": record.base_log_odds,
        "drivers": record.drivers,
        "created_at": record.timestamp.isoformat().replace("+00:00", "Z"),
        "request_id": request_id,
    }


_ERRORS = {
    400: api_docs.INVALID,
    401: api_docs.UNAUTHENTICATED,
    404: api_docs.NOT_FOUND,
    413: api_docs.TOO_LARGE,
    415: api_docs.UNSUPPORTED,
    422: api_docs.CONFLICT,
    429: api_docs.THROTTLED,
}


class PredictViewSet(viewsets.ViewSet):
    """Score features with a registry model; every prediction is stored as a record."""

    permission_classes = [IsAuthenticated]

    def _run(self, request: Request, endpoint: str, compute: Any) -> Response:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            status_code, body = compute()
            return Response(body, status=status_code)
        if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY:
            raise ApiError(
                status_code=400,
                code="invalid",
                message=f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} characters.",
                fields={IDEMPOTENCY_HEADER: "Invalid value."},
            )
        try:
            status_code, body, replayed = idempotent_call(
                key=key,
                owner=request.user,
                endpoint=endpoint,
                fingerprint=request_fingerprint(endpoint=endpoint, body=request.data),
                compute=compute,
            )
        except IdempotencyConflict:
            raise ApiError(
                status_code=422,
                code="idempotency_key_reused",
                message=f"This {IDEMPOTENCY_HEADER} was used with a different request body.",
            ) from None
        response = Response(body, status=status_code)
        response["Idempotent-Replayed"] = "true" if replayed else "false"
        return response

    @extend_schema(
        operation_id="predict",
        request=PredictRequestSerializer,
        responses={201: PredictionSerializer, **_ERRORS},
        parameters=[api_docs.IDEMPOTENCY_HEADER, api_docs.REQUEST_ID_HEADER],
        examples=[
            OpenApiExample(
                "Score one applicant",
                value={"model": "credit", "features": api_docs.EXAMPLE_FEATURES},
                request_only=True,
            ),
            OpenApiExample(
                "Prediction",
                value={
                    "record_id": "0b6f8c52-3c1e-4c0e-9a51-5f0f4c9a7e21",
                    "model_id": "credit@1",
                    "risk_score": 0.0789,
                    "risk_label": "low",
                    "base_log_odds": -0.997,
                    "drivers": [
                        {"feature": "status_of_existing_checking_account", "value": "... < 0 DM", "contribution": 0.61},
                        {"feature": "credit_history", "value": "critical account/ ...", "contribution": -0.78},
                    ],
                    "created_at": "2026-11-27T10:00:00.000000Z",
                    "request_id": "3f1c2a9b8d7e4f60a1b2c3d4e5f60718",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def create(self, request: Request) -> Response:
        data, model = model_request(PredictRequestSerializer, request)
        request_id = getattr(request._request, "request_id", "")

        def compute() -> tuple[int, dict[str, Any]]:
            try:
                [scored] = _predict(request, model, [data["features"]], request_id)
            except FeatureValidationError as exc:
                raise FeatureValidationError(errors=exc.item_errors.get(0, exc.errors)) from None
            return 201, _prediction_body(scored, request_id)

        return self._run(request, "predict", compute)

    @extend_schema(
        operation_id="predict_batch",
        request=BatchRequestSerializer,
        responses={201: BatchPredictionSerializer, **_ERRORS},
        parameters=[api_docs.IDEMPOTENCY_HEADER, api_docs.REQUEST_ID_HEADER],
        examples=[
            OpenApiExample(
                "Score two applicants",
                value={
                    "model": "credit",
                    "items": [
                        {"features": api_docs.EXAMPLE_FEATURES},
                        {"features": {**api_docs.EXAMPLE_FEATURES, "age_in_years": 22, "duration_in_month": 48}},
                    ],
                },
                request_only=True,
            ),
            OpenApiExample(
                "Invalid items (nothing stored)",
                value={
                    "error": {
                        "code": "invalid_features",
                        "message": "1 invalid item; nothing was stored.",
                        "fields": {"items[1].features.age_in_years": "Expected an integer, got a string."},
                    },
                    "request_id": "3f1c2a9b8d7e4f60a1b2c3d4e5f60718",
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    @action(detail=False, methods=["post"], url_path="batch")
    def batch(self, request: Request) -> Response:
        data, model = model_request(BatchRequestSerializer, request)
        request_id = getattr(request._request, "request_id", "")

        def compute() -> tuple[int, dict[str, Any]]:
            scored = _predict(request, model, [item["features"] for item in data["items"]], request_id)
            results = [_prediction_body(s, request_id) for s in scored]
            return 201, {"model_id": model.model_id, "request_id": request_id, "results": results}

        return self._run(request, "predict_batch", compute)


def model_request(
    serializer_class: type[ModelChoiceSerializer], request: Request
) -> tuple[dict[str, Any], selectors.LoadedModel]:
    """The validated body and the loaded model it names (ModelNotFound, a 404, for an unknown one)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return data, selectors.loaded_model_get(name=data.get("model"), model_id=data.get("model_id"))


def _predict(request: Request, model: Any, items: list[Any], request_id: str) -> list[ScoredRecord]:
    """Score and store ``items`` as the request's client (its user, and its API key if it used one)."""
    from accounts.models import ApiKey

    return records_predict(
        model=model,
        items=items,
        request_id=request_id,
        created_by=request.user,
        api_key=request.auth if isinstance(request.auth, ApiKey) else None,
    )

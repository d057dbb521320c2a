"""The records API: predictions (stored as records), and the records' list, detail, nearest and outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import numpy as np
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.concurrency import heavy_api
from accounts.models import ApiKey
from core.api import docs
from core.api.serializers import DATE_TIME_SCHEMA
from core.errors import ApplicationError
from core.logging import request_id_var
from core.timefmt import iso_z
from core.types import JSON, JSONObject
from predictions import api_docs, selectors
from predictions.embedding_runtime import embed_rows
from predictions.inference import inference_validate
from predictions.serializers import (
    BatchPredictionSerializer,
    BatchRequestSerializer,
    ModelChoiceSerializer,
    PredictionSerializer,
    PredictRequestSerializer,
)
from records.idempotency import idempotent_call, request_fingerprint
from records.models import Record
from records.prediction import Client, prediction_create, prediction_create_one
from records.selectors import (
    MAX_K,
    MAX_PAGE_SIZE,
    record_get,
    record_list,
    record_list_similar,
    record_page,
)
from records.serializers import (
    NearestParamsSerializer,
    NearestQuerySerializer,
    NearestResultSerializer,
    OutcomeSerializer,
    RecordDetailSerializer,
    RecordFilterSerializer,
    RecordListParamsSerializer,
    RecordPageSerializer,
    RecordSummarySerializer,
)
from records.services import record_set_outcome

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = docs.MAX_IDEMPOTENCY_KEY
_NAME = {"type": "string", "minLength": 1, "maxLength": 64}
_SCORE = {"type": "number", "minimum": 0, "maximum": 1}
_TIME = DATE_TIME_SCHEMA
FILTER_PARAMETERS = [
    OpenApiParameter("model", _NAME, description="Model name"),
    OpenApiParameter(
        "model_id", {"type": "string", "minLength": 1, "maxLength": 96}, description="Exact version, name@version"
    ),
    OpenApiParameter(
        "risk_label",
        {"type": "array", "items": {"type": "string", "maxLength": 32}},
        description="Repeat (or comma-separate) for several labels",
    ),
    OpenApiParameter("score_min", _SCORE, description="Inclusive"),
    OpenApiParameter("score_max", _SCORE, description="Inclusive; not below score_min (400)"),
    OpenApiParameter("created_after", _TIME, description="ISO 8601, inclusive"),
    OpenApiParameter("created_before", _TIME, description="ISO 8601, exclusive; later than created_after (400)"),
    OpenApiParameter(
        "decision",
        {"type": "array", "items": {"type": "string", "enum": ["approve", "refer", "decline"]}},
        description="Repeat (or comma-separate) for several decisions",
    ),
    OpenApiParameter("has_outcome", bool),
    OpenApiParameter("outcome", bool),
    OpenApiParameter(
        "segment_feature", {"type": "string", "minLength": 1, "maxLength": 100}, description="With segment_value"
    ),
    OpenApiParameter(
        "segment_value",
        {"type": "string", "maxLength": 200},
        description="Records whose segment_feature has this value, as text (booleans: true or false); 400 without "
        "segment_feature",
    ),
]
RECORD_NOT_FOUND = docs.error_response(404, "No such record (or not yours)", "not_found", "Not found.")
BAD_PARAMETER = docs.error_response(
    400,
    "A bad query parameter, named",
    "invalid",
    "The request has invalid fields.",
    {"score_min": "A valid number is required."},
)


def _params(serializer_class: Any, request: Request) -> Any:
    """The query's parameters, validated; one this endpoint does not know is a 400 naming it (it
    used to be ignored, so a client believed it had filtered)."""
    serializer = serializer_class(data=RecordFilterSerializer.from_query(request.query_params))
    unknown = sorted(set(request.query_params) - set(serializer.fields))
    if unknown:
        raise ValidationError({name[:100]: "Unknown parameter." for name in unknown[:20]})
    serializer.is_valid(raise_exception=True)
    return serializer


INCLUDE = OpenApiParameter(
    "include", str, OpenApiParameter.QUERY, enum=["embedding"], description="embedding: add the 384-d vector"
)


def _include(request: Request) -> dict[str, bool]:
    """The serializer context for ``?include=embedding`` (the only thing a record answer leaves out)."""
    asked = request.query_params.get("include")
    if asked not in (None, "embedding"):  # an empty include= is a mistake too
        raise ValidationError({"include": "Only 'embedding' can be included."})
    return {"include_embedding": asked == "embedding"}


def _neighbours_body(model_id: str, neighbours: list[Any]) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "results": [
            {
                "id": str(n.record.id),
                "distance": n.distance,
                "risk_score": n.record.risk_score,
                "risk_label": n.record.risk_label,
                "decision": n.record.decision,
                "outcome": n.record.outcome,
                "timestamp": iso_z(n.record.timestamp),
            }
            for n in neighbours
        ],
    }


class RecordViewSet(viewsets.ViewSet):
    """Stored predictions. Staff see all records; other clients only the records they created."""

    permission_classes = [IsAuthenticated]
    lookup_value_regex = r"[^/]+"

    def _get(self, request: Request, pk: str) -> Record:
        record = record_get(user=request.user, record_id=pk)
        if record is None:
            raise ApplicationError("Not found.", code="not_found", status=404)
        return record

    @extend_schema(
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("ordering", str, enum=["-timestamp", "timestamp", "-risk_score", "risk_score"]),
            OpenApiParameter(
                "page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}, description="Default 50"
            ),
            OpenApiParameter(
                "cursor",
                {"type": "string", "minLength": 1, "maxLength": 500},
                description="From a previous page's next/previous link; any other value is a 400",
            ),
        ],
        responses={
            200: RecordPageSerializer,
            400: BAD_PARAMETER,
            401: docs.UNAUTHENTICATED,
            429: docs.THROTTLED,
        },
        examples=[
            OpenApiExample(
                "A page",
                value={
                    "next": "http://localhost:8000/api/records/?cursor=eyJvIjoiLXRpbWVzdGFtcCIs...",
                    "previous": None,
                    "results": [
                        {
                            "id": "0b6f8c52-3c1e-4c0e-9a51-5f0f4c9a7e21",
                            "timestamp": "2026-11-27T10:00:00Z",
                            "model_id": "credit@1",
                            "risk_score": 0.71,
                            "risk_label": "high",
                            "outcome": None,
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def list(self, request: Request) -> Response:
        params = _params(RecordListParamsSerializer, request)
        data = params.validated_data
        queryset = record_list(user=request.user, filters=params.to_filters())
        page = record_page(
            queryset=queryset, ordering=data["ordering"], page_size=data["page_size"], cursor=data.get("cursor")
        )

        def link(cursor: str | None) -> str | None:
            if cursor is None:
                return None
            query = request.query_params.copy()
            query["cursor"] = cursor
            return request.build_absolute_uri(f"{request.path}?{urlencode(query, doseq=True)}")

        return Response(
            {
                "next": link(page.next_cursor),
                "previous": link(page.previous_cursor),
                "results": RecordSummarySerializer(page.records, many=True).data,
            }
        )

    @extend_schema(
        parameters=[INCLUDE], responses={200: RecordDetailSerializer, 401: docs.UNAUTHENTICATED, 404: RECORD_NOT_FOUND}
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        context = _include(request)
        return Response(RecordDetailSerializer(self._get(request, pk), context=context).data)

    @extend_schema(
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("k", {"type": "integer", "minimum": 1, "maximum": MAX_K}, description="Default 10"),
        ],
        responses={
            200: NearestResultSerializer,
            400: BAD_PARAMETER,
            401: docs.UNAUTHENTICATED,
            404: RECORD_NOT_FOUND,
        },
    )
    @action(detail=True, methods=["get"])
    def nearest(self, request: Request, pk: str) -> Response:
        """The k records most similar to this one (same model version, cosine distance), nearest first."""
        record = self._get(request, pk)
        params = _params(NearestParamsSerializer, request)
        if record.embedding is None:
            return Response({"model_id": record.model_id, "results": []})
        neighbours = record_list_similar(
            user=request.user,
            vector=np.asarray(record.embedding),
            model_version_id=record.model_version_id,
            k=params.validated_data["k"],
            filters=params.to_filters(),
            exclude_id=record.pk,
        )
        return Response(_neighbours_body(record.model_id, neighbours))

    @extend_schema(
        operation_id="records_nearest_search",
        request=NearestQuerySerializer,
        responses={
            200: NearestResultSerializer,
            400: docs.INVALID,
            401: docs.UNAUTHENTICATED,
            404: docs.NOT_FOUND,
        },
        examples=[
            OpenApiExample(
                "Similar cases for features (not stored)",
                value={"model": "credit", "features": api_docs.EXAMPLE_FEATURES, "k": 5},
                request_only=True,
            )
        ],
    )
    @action(detail=False, methods=["post"], url_path="nearest")
    def nearest_search(self, request: Request) -> Response:
        """Records similar to a feature dict (embedded on the fly, not stored) or to a 384-d vector."""
        data, route = model_request(NearestQuerySerializer, request)
        model = route.champion
        if "features" in data:
            row = inference_validate(model=model, features=data["features"])
            vector = embed_rows(model=model, rows=[row])[0]
        else:
            vector = data["vector"]  # a unit vector (NearestQuerySerializer.validate_vector)
        params = _params(NearestParamsSerializer, request)
        neighbours = record_list_similar(
            user=request.user, vector=vector, model_version_id=model.pk, k=data["k"], filters=params.to_filters()
        )
        return Response(_neighbours_body(model.model_id, neighbours))

    @extend_schema(
        request=OutcomeSerializer,
        parameters=[INCLUDE],
        responses={
            200: RecordDetailSerializer,
            400: BAD_PARAMETER,
            401: docs.UNAUTHENTICATED,
            404: RECORD_NOT_FOUND,
        },
        examples=[
            OpenApiExample(
                "It defaulted", value={"outcome": True, "observed_at": "2027-03-01T00:00:00Z"}, request_only=True
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def outcome(self, request: Request, pk: str) -> Response:
        """Record what really happened (true: the risk materialised). Idempotent."""
        context = _include(request)
        record = self._get(request, pk)
        serializer = OutcomeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = record_set_outcome(
            record=record,
            outcome=serializer.validated_data["outcome"],
            observed_at=serializer.validated_data.get("observed_at"),
            user=request.user,
        )
        return Response(RecordDetailSerializer(record, context=context).data)


DRY_RUN = OpenApiParameter(
    "dry_run",
    bool,
    OpenApiParameter.QUERY,
    description="true: a what-if. The same answer with a 200 and record_id null; nothing is stored, "
    "counted in monitoring or replayed for an Idempotency-Key.",
)


def _dry_run(request: Request) -> bool:
    value = request.query_params.get("dry_run", "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ValidationError({"dry_run": "Must be true or false."})
    return value in ("true", "1")


def _prediction_body(record: Record, request_id: str) -> JSONObject:
    return {
        "record_id": str(record.id),
        "model_id": record.model_id,
        "risk_score": record.risk_score,
        "risk_label": record.risk_label,
        "base_log_odds": record.base_log_odds,
        "drivers": record.drivers,
        "decision": record.decision,
        "reasons": record.reasons,
        "served_by": record.served_by,
        "created_at": iso_z(record.timestamp),
        "request_id": request_id,
        "subject_id": record.subject_id,
    }


_ERRORS = {
    400: docs.INVALID,
    401: docs.UNAUTHENTICATED,
    404: docs.NOT_FOUND,
    413: docs.TOO_LARGE,
    415: docs.UNSUPPORTED,
    422: docs.CONFLICT,
    429: docs.THROTTLED,
}


class PredictViewSet(viewsets.ViewSet):
    """Score features with a registry model; every prediction is stored as a record."""

    permission_classes = [IsAuthenticated]

    def _run(
        self, request: Request, endpoint: str, compute: Callable[[], tuple[int, JSONObject]], *, replayable: bool = True
    ) -> Response:
        """``compute``, replayed for a repeated Idempotency-Key unless not ``replayable`` (a dry run:
        the key is still checked, never stored)."""
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and (not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY):
            raise ApplicationError(
                f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} characters.",
                code="invalid",
                fields={IDEMPOTENCY_HEADER: "Invalid value."},
            )
        if key is None or not replayable:
            status_code, body = compute()
            return Response(body, status=status_code)
        status_code, body, replayed = idempotent_call(
            key=key,
            owner=request.user,
            endpoint=endpoint,
            fingerprint=request_fingerprint(endpoint=endpoint, body=request.data),
            compute=compute,
        )
        response = Response(body, status=status_code)
        response["Idempotent-Replayed"] = "true" if replayed else "false"
        return response

    @extend_schema(
        operation_id="predict",
        request=PredictRequestSerializer,
        responses={201: PredictionSerializer, 200: PredictionSerializer, **_ERRORS},
        parameters=[docs.IDEMPOTENCY_HEADER, docs.REQUEST_ID_HEADER, DRY_RUN],
        examples=[
            OpenApiExample(
                "Score one applicant",
                value={"model": "credit", "features": api_docs.EXAMPLE_FEATURES},
                request_only=True,
            ),
            OpenApiExample(
                "With protected attributes (stored for fairness monitoring, never scored)",
                value={
                    "model": "credit",
                    "features": api_docs.EXAMPLE_FEATURES,
                    "protected": api_docs.EXAMPLE_PROTECTED,
                    "subject_id": "applicant-4711",
                },
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
                    "decision": "approve",
                    "reasons": [],
                    "served_by": "champion",
                    "created_at": "2026-11-27T10:00:00.000000Z",
                    "request_id": "3f1c2a9b8d7e4f60a1b2c3d4e5f60718",
                    "subject_id": "applicant-4711",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def create(self, request: Request) -> Response:
        dry_run = _dry_run(request)
        data, model = model_request(PredictRequestSerializer, request)
        request_id = request_id_var.get()

        def compute() -> tuple[int, JSONObject]:
            record = prediction_create_one(
                model=model,
                features=data["features"],
                subject_id=data.get("subject_id"),
                protected=data.get("protected"),
                store=not dry_run,
                **_client(request),
            )
            if dry_run:  # a what-if: the same answer, nothing stored, no record id
                return 200, {**_prediction_body(record, request_id), "record_id": None}
            return 201, _prediction_body(record, request_id)

        return self._run(request, "predict", compute, replayable=not dry_run)  # a dry run is never replayed

    @extend_schema(
        operation_id="predict_batch",
        request=BatchRequestSerializer,
        responses={201: BatchPredictionSerializer, **_ERRORS},
        parameters=[docs.IDEMPOTENCY_HEADER, docs.REQUEST_ID_HEADER],
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
    @heavy_api
    def batch(self, request: Request) -> Response:
        data, model = model_request(BatchRequestSerializer, request)
        request_id = request_id_var.get()

        def compute() -> tuple[int, JSONObject]:
            items = [item["features"] for item in data["items"]]
            subjects = [item.get("subject_id") for item in data["items"]]
            protected = [item.get("protected") for item in data["items"]]
            records = prediction_create(
                model=model, items=items, subjects=subjects, protected=protected, **_client(request)
            )
            results: list[JSON] = [_prediction_body(record, request_id) for record in records]
            return 201, {"model_id": model.champion.model_id, "request_id": request_id, "results": results}

        return self._run(request, "predict_batch", compute)


def model_request(
    serializer_class: type[ModelChoiceSerializer], request: Request
) -> tuple[dict[str, Any], selectors.LoadedRoute]:
    """The validated body and the route of the model it names (ModelNotFound, a 404, for an unknown one)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return data, selectors.loaded_route_get(name=data.get("model"), model_id=data.get("model_id"))


def _client(request: Request) -> Client:
    """Who a prediction is stored for: the request's user and API key, and its request id."""
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    return {"request_id": request_id_var.get(), "created_by": request.user, "api_key": api_key}

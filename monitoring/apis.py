"""The monitoring API (staff only): status, drift, attribution, performance, segments and alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.concurrency import heavy_api
from core.api import docs
from core.errors import ApplicationError
from monitoring.api_docs import example
from monitoring.models import Alert
from monitoring.selectors.alerts import alert_list
from monitoring.selectors.drift import attribution_report, drift_report, segment_scan
from monitoring.selectors.outcomes import fairness_report, performance_report
from monitoring.selectors.overview import monitored_version_get, monitoring_overview
from monitoring.serializers import (
    AlertListParamsSerializer,
    AlertListSerializer,
    AlertSerializer,
    AttributionReportSerializer,
    DriftParamsSerializer,
    DriftReportSerializer,
    FairnessParamsSerializer,
    FairnessReportSerializer,
    OverviewSerializer,
    PerformanceParamsSerializer,
    PerformanceReportSerializer,
    SegmentScanSerializer,
    WindowParamsSerializer,
    fairness_body,
    plain,
)
from monitoring.services.alerts import alert_acknowledge, alert_resolve

FORBIDDEN = docs.error_response(
    403, "Not staff", "permission_denied", "You do not have permission to perform this action."
)
BAD_QUERY = docs.error_response(
    400,
    "A bad query parameter, or a segment that cannot be judged, named",
    "invalid",
    "The request has invalid fields.",
    {"end": "Must be later than start."},
)
NO_MODEL = docs.error_response(
    404, "No such model, or no production version", "model_not_found", "model 'fraud' does not exist"
)
ALERT_NOT_FOUND = docs.error_response(404, "No such alert", "not_found", "Not found.")
ALERT_CONFLICT = docs.error_response(
    409, "Not in a state for this action", "invalid_alert_action", "alert 7 is resolved, not open"
)
_COMMON = {401: docs.UNAUTHENTICATED, 403: FORBIDDEN, 429: docs.THROTTLED}


def _params(serializer_class: Any, request: Request) -> Any:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer


class MonitoringViewSet(viewsets.ViewSet):
    """Per production model: drift, attribution drift, realised performance and segments."""

    permission_classes = [IsAdminUser]
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    @extend_schema(responses={200: OverviewSerializer, **_COMMON}, examples=[example("overview", "The demo model")])
    @heavy_api
    def list(self, request: Request) -> Response:
        end = timezone.now().date() + timedelta(days=1)
        start = end - timedelta(days=7)
        models = monitoring_overview(start=start, end=end)
        data = {"start": start, "end": end, "models": [plain({**m.__dict__, "version": None}) for m in models]}
        return Response(OverviewSerializer(data).data)

    @extend_schema(
        parameters=[DriftParamsSerializer],
        responses={200: DriftReportSerializer, 400: BAD_QUERY, 404: NO_MODEL, **_COMMON},
        examples=[example("drift", "The demo's last 7 days against the reference: credit_amount shifted")],
    )
    @action(detail=True, methods=["get"])
    @heavy_api
    def drift(self, request: Request, name: str) -> Response:
        params = _params(DriftParamsSerializer, request)
        data = params.validated_data
        against = (data["against_start"], data["against_end"]) if data.get("against_start") else None
        version = monitored_version_get(name=name)
        report = drift_report(
            model_version=version, start=data["start"], end=data["end"], against=against, segment=params.segment
        )
        return Response(DriftReportSerializer(plain(report)).data)

    @extend_schema(
        parameters=[WindowParamsSerializer],
        responses={200: AttributionReportSerializer, 400: BAD_QUERY, 404: NO_MODEL, **_COMMON},
        examples=[example("attribution", "Mean log-odds rose by 0.59; 56 % of it is credit_amount")],
    )
    @action(detail=True, methods=["get"])
    @heavy_api
    def attribution(self, request: Request, name: str) -> Response:
        data = _params(WindowParamsSerializer, request).validated_data
        version = monitored_version_get(name=name)
        report = attribution_report(model_version=version, start=data["start"], end=data["end"])
        return Response(AttributionReportSerializer(plain(report)).data)

    @extend_schema(
        parameters=[PerformanceParamsSerializer],
        responses={200: PerformanceReportSerializer, 400: BAD_QUERY, 404: NO_MODEL, **_COMMON},
        examples=[example("performance", "90 days, weekly (first week shown)")],
    )
    @action(detail=True, methods=["get"])
    @heavy_api
    def performance(self, request: Request, name: str) -> Response:
        params = _params(PerformanceParamsSerializer, request)
        data = params.validated_data
        version = monitored_version_get(name=name)
        report = performance_report(
            model_version=version, start=data["start"], end=data["end"], step=data["step"], segment=params.segment
        )
        return Response(PerformanceReportSerializer(plain(report)).data)

    @extend_schema(
        parameters=[WindowParamsSerializer],
        responses={200: SegmentScanSerializer, 400: BAD_QUERY, 404: NO_MODEL, **_COMMON},
        description="Score drift of the top segments, with Benjamini-Hochberg q-values across them",
        examples=[example("segments", "Two of the segments scanned")],
    )
    @action(detail=True, methods=["get"])
    @heavy_api
    def segments(self, request: Request, name: str) -> Response:
        data = _params(WindowParamsSerializer, request).validated_data
        version = monitored_version_get(name=name)
        scan = segment_scan(model_version=version, start=data["start"], end=data["end"])
        body = {"model_id": version.model_id, "start": data["start"], "end": data["end"], "segments": scan}
        return Response(SegmentScanSerializer(plain(body)).data)

    @extend_schema(
        parameters=[FairnessParamsSerializer],
        responses={200: FairnessReportSerializer, 400: BAD_QUERY, 404: NO_MODEL, **_COMMON},
        description="Per protected attribute: approval rate per group, the adverse impact ratio against the most "
        "favoured group (below 0.8 warns) with its 95 % interval, and the TPR and FPR gaps once outcomes arrive",
        examples=[example("fairness", "The demo's last 30 days")],
    )
    @action(detail=True, methods=["get"])
    def fairness(self, request: Request, name: str) -> Response:
        data = _params(FairnessParamsSerializer, request).validated_data
        version = monitored_version_get(name=name)
        report = fairness_report(model_version=version, start=data["start"], end=data["end"])
        return Response(FairnessReportSerializer(fairness_body(report)).data)


class AlertViewSet(viewsets.ViewSet):
    """Fired alerts, newest first; staff acknowledge and resolve them."""

    permission_classes = [IsAdminUser]
    lookup_value_regex = r"[0-9]{1,18}"

    def _get(self, pk: str) -> Alert:
        alert = alert_list().filter(pk=int(pk)).first()
        if alert is None:
            raise ApplicationError("Not found.", code="not_found", status=404)
        return alert

    @extend_schema(
        parameters=[AlertListParamsSerializer], responses={200: AlertListSerializer, 400: BAD_QUERY, **_COMMON}
    )
    def list(self, request: Request) -> Response:
        data = _params(AlertListParamsSerializer, request).validated_data
        alerts = alert_list(status=data.get("status"), model_name=data.get("model"))[:200]
        return Response({"results": AlertSerializer(alerts, many=True).data})

    @extend_schema(
        request=None,
        responses={200: AlertSerializer, 404: ALERT_NOT_FOUND, 409: ALERT_CONFLICT, **_COMMON},
        examples=[example("alert", "Acknowledged by staff")],
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        return Response(AlertSerializer(alert_acknowledge(alert=self._get(pk), user=request.user)).data)

    @extend_schema(request=None, responses={200: AlertSerializer, 404: ALERT_NOT_FOUND, 409: ALERT_CONFLICT, **_COMMON})
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        return Response(AlertSerializer(alert_resolve(alert=self._get(pk), user=request.user)).data)

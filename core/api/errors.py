"""One error shape for every API response: ``{"error": {"code", "message", "fields"?}, "request_id"}``."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError
from core.logging import request_id_var
from core.types import JSON, JSONObject


def error_body(code: str, message: str, fields: Mapping[str, JSON] | None = None) -> JSONObject:
    error: JSONObject = {"code": code, "message": message}
    if fields:
        error["fields"] = dict(fields)
    return {"error": error, "request_id": request_id_var.get()}


def sentence(detail: object) -> str:
    """An error detail as one sentence: a nested detail (simplejwt's ``{"detail", "code"}``) by its
    own words, never as a Python repr."""
    if isinstance(detail, dict):
        text = sentence(detail["detail"]) if "detail" in detail else "; ".join(sentence(v) for v in detail.values())
    elif isinstance(detail, list | tuple):
        text = " ".join(sentence(item) for item in detail)
    else:
        text = str(detail).strip()
    return text if not text or text.endswith((".", "?", "!")) else text + "."


def field_paths(detail: Any, prefix: str = "") -> dict[str, str]:
    """Nested error details -> ``{"features.age": "message", "items[3].features.age": "message"}``."""
    out: dict[str, str] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            out.update(field_paths(value, f"{prefix}[{key}]" if isinstance(key, int) else dotted))
    elif isinstance(detail, list) and detail and all(isinstance(i, str | exceptions.ErrorDetail) for i in detail):
        out[prefix or "non_field_errors"] = " ".join(str(i) for i in detail)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                out.update(field_paths(value, f"{prefix}[{index}]"))
    else:
        out[prefix or "non_field_errors"] = str(detail)
    return out


_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "too_large",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_422_UNPROCESSABLE_ENTITY: "unprocessable",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def application_error_response(exc: ApplicationError) -> Response:
    response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler: every error, ours or the framework's, in the one shape."""
    if isinstance(exc, ApplicationError):
        return application_error_response(exc)
    if isinstance(exc, OperationalError | InterfaceError):
        # the database is unreachable: nothing was stored (each write is one transaction); retry later.
        # Django drops the broken connection when the request ends, and reconnects on the next one.
        return application_error_response(
            ApplicationError(
                "The database is unavailable; nothing was stored. Retry shortly.",
                code="unavailable",
                status=503,
                retry_after=5,
            )
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    handled = drf_exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    code = _CODES.get(response.status_code, "error")
    detail = getattr(exc, "detail", None)
    if isinstance(exc, exceptions.ValidationError):
        fields = field_paths(detail)
        non_field = fields.pop("non_field_errors", None)
        body = error_body("invalid", non_field or "The request has invalid fields.", fields or None)
    else:
        if isinstance(exc, exceptions.ParseError):
            code = "malformed_json"
        elif isinstance(exc, exceptions.AuthenticationFailed):
            code = "authentication_failed"
        body = error_body(code, sentence(detail) if detail is not None else "Error.")
    response.data = body
    return response


@cache
def _api_prefix() -> str:
    """Where the API's URLs begin (``/api/``): its errors are JSON, the pages' are HTML."""
    return reverse("schema").removesuffix("schema/")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(_api_prefix())


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return page_not_found(request, exception or Http404())


@csrf_exempt  # it changes nothing: a POST to a wrong path is a 404, not a CSRF failure page
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Any path under /api/ that names no endpoint; a missing trailing slash is named as such."""
    path = request.path
    message = f"No API endpoint at {path}."
    if not path.endswith("/"):
        try:
            match = resolve(path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            message = f"No API endpoint at {path}; the endpoint is {path}/ (with the slash)."
    return JsonResponse(error_body("not_found", message), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Internal server error."), status=500)
    return django_server_error(request)

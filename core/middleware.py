"""Request ids and request-size limits, for every response (errors included)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from core.api.errors import error_body
from core.logging import request_id_var, timings_var
from core.principal import user_or_none

REQUEST_ID_HEADER = "X-Request-ID"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters escaped (\\x1b), so a path cannot forge or colour log lines."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")
access_logger = logging.getLogger("riskengine.access")


class RequestIdMiddleware:
    """Accept a well-formed ``X-Request-ID`` or make one; put it on the response and every log line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        timings: dict[str, float] = {}
        timings_token = timings_var.set(timings)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            elapsed_ms = (time.perf_counter() - started) * 1000
            response[REQUEST_ID_HEADER] = request_id
            response["Server-Timing"] = ", ".join(
                [f"app;dur={elapsed_ms:.2f}", *(f"{name};dur={value:.2f}" for name, value in timings.items())]
            )
            path = printable(request.path)
            access_logger.info(
                "%s %s %s",
                request.method,
                path,
                response.status_code,
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": round(elapsed_ms, 2),
                    "user": getattr(user_or_none(getattr(request, "user", None)), "username", None),
                },
            )
            return response
        finally:
            request_id_var.reset(token)
            timings_var.reset(timings_token)


@cache
def _upload_path() -> str:
    """The one path that takes uploads (the CSV import page), and so IMPORT_MAX_BYTES."""
    return reverse("import")


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``MAX_BODY_BYTES`` with a JSON 413 before anything reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.IMPORT_MAX_BYTES if request.path == _upload_path() else settings.MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return JsonResponse(
                error_body("too_large", f"The request body is {length} bytes; the limit is {limit} bytes."),
                status=413,
            )
        return self.get_response(request)

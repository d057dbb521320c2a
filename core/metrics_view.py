"""``GET /metrics`` for Prometheus, only for a scraper with the token or from an allowed address."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django_prometheus import exports

from core.net import allowed, client_address


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    return allowed(client_address(request), settings.METRICS_ALLOWED_IPS)


def metrics(request: HttpRequest) -> HttpResponse:
    """Anyone else gets a 404: the endpoint's existence is not advertised."""
    if not _may_scrape(request):
        raise Http404("Not found")
    response: HttpResponse = exports.ExportToDjangoView(request)
    return response

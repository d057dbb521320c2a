"""Shared pieces of the server-rendered UI: access control and template context."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import resolve_url
from django.urls import reverse
from django_htmx.middleware import HtmxDetails


def query_without(query: QueryDict, *keys: str) -> str:
    """The query string without ``keys`` (and without empty values): the base of a page's links."""
    copy = query.copy()
    for key in keys:
        copy.pop(key, None)
    return urlencode([(k, v) for k, values in copy.lists() for v in values if v != ""])


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (for type checking)."""

    htmx: HtmxDetails


def staff_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Every page needs a logged-in staff user; anyone else goes to the login page.

    For an htmx request the redirect is done by htmx itself (HX-Redirect), so the login page does not
    land inside a fragment.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff:
            return view(request, *args, **kwargs)
        if user.is_authenticated:  # logged in, but not staff: the login page would send it straight back
            return HttpResponseForbidden("These pages are for staff. API clients use /api/.")
        login = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}"
        if getattr(request, "htmx", False):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = login
            return response
        return HttpResponseRedirect(login)

    return wrapper


# (label, URL name): the navigation bar, left to right.
NAVIGATION = (
    ("Predict", "predict"),
    ("Records", "dashboard"),
    ("Import", "import"),
    ("Models", "models"),
    ("Monitoring", "monitoring"),
)


def navigation(request: HttpRequest) -> dict[str, object]:
    """The navigation bar; an item is active when the path is its page or below it (the longest match)."""
    path = request.path
    urls = [(label, reverse(name)) for label, name in NAVIGATION]
    matches = [url for _, url in urls if path == url or (url != "/" and path.startswith(url))]
    active = max(matches, key=len, default=None)
    return {"nav_items": [{"label": label, "url": url, "active": url == active} for label, url in urls]}

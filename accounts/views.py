"""Login with a limit on failed attempts per client address and username (shared by all workers)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from accounts.throttling import count_in_window

WINDOW_SECONDS = 15 * 60


def _client_key(request: HttpRequest) -> str:
    address = request.META.get("REMOTE_ADDR", "")
    username = str(request.POST.get("username", ""))[:150].lower()
    return f"{address}|{username}"


class ThrottledLoginView(auth_views.LoginView):
    """After LOGIN_ATTEMPTS_PER_15_MIN failures, further attempts get a 429 until the window ends."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = f"login:{_client_key(request)}"
        limit = settings.LOGIN_ATTEMPTS_PER_15_MIN
        if count_in_window(key, WINDOW_SECONDS, add=0) >= limit:
            form = self.get_form()
            form.add_error(None, "Too many failed attempts. Try again in 15 minutes.")
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(WINDOW_SECONDS)
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code != 302:  # a failed attempt
            count_in_window(key, WINDOW_SECONDS)
        return response

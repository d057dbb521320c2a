"""Logins (web and admin) limited per username and address, open to staff only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse

from accounts.login_limits import LoginThrottled, login_attempt_run
from core.net import client_address


class StaffAuthenticationForm(AuthenticationForm):
    """The web pages are for staff: any other account is told so here, instead of being sent back and
    forth between the pages and this form."""

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if not getattr(user, "is_staff", False):
            raise forms.ValidationError(
                "This account has no access to the web pages (they are for staff). API clients use /api/token/.",
                code="not_staff",
            )


class ThrottledLoginView(auth_views.LoginView):
    """After LOGIN_ATTEMPTS_PER_15_MIN failures, further attempts get a 429 until the window ends."""

    authentication_form = StaffAuthenticationForm

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        try:
            return login_attempt_run(
                username=str(username),
                address=client_address(request),
                scope="login",
                attempt=lambda: super(ThrottledLoginView, self).post(request, *args, **kwargs),
                succeeded=lambda response: response.status_code == 302,  # redirected: logged in
            )
        except LoginThrottled as exc:
            form = self.get_form_class()(request, initial={"username": username})  # unbound: no password check
            form.cleaned_data = {}
            form.add_error(None, str(exc))
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response

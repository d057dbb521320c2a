"""Who a request or job acts as: a user, an anonymous visitor, or nobody (a system job)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

# What request.user can be; the typed seam between the web layer and the services. The project
# uses Django's own user model (AUTH_USER_MODEL is not swapped).
Principal = User | AnonymousUser


def user_or_none(user: Principal | None) -> User | None:
    """The user to store as an author: None for anonymous requests and system jobs."""
    if isinstance(user, User) and user.is_authenticated:
        return user
    return None

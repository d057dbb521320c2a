"""Staff roles as Django groups (created by a migration, membership managed in the admin); a
superuser holds every role."""

from __future__ import annotations

from django.contrib.auth.models import PermissionsMixin

RISK_MANAGER = "risk manager"
ROLES = (RISK_MANAGER,)


def user_has_role(*, user: object, role: str) -> bool:
    """``user`` is an active user who is a superuser or a member of the role's group."""
    if not isinstance(user, PermissionsMixin) or not getattr(user, "is_active", False):
        return False
    return user.is_superuser or user.groups.filter(name=role).exists()

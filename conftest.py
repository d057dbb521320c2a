"""Shared fixtures: the users (staff, API client, admin) and API clients.

Later fixtures (the registered demo model) build on these.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser

PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - test users only


def _make_user(username: str, *, is_staff: bool = False, is_superuser: bool = False) -> AbstractUser:
    user: AbstractUser = get_user_model().objects.create_user(
        username=username, password=PASSWORD, is_staff=is_staff, is_superuser=is_superuser
    )
    return user


@pytest.fixture
def staff_user(db) -> AbstractUser:
    return _make_user("staff", is_staff=True)


@pytest.fixture
def admin_user(db) -> AbstractUser:
    return _make_user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def api_user(db) -> AbstractUser:
    """A non-staff API client (a service account)."""
    return _make_user("service")


@pytest.fixture
def other_api_user(db) -> AbstractUser:
    return _make_user("other-service")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()

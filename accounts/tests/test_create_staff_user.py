"""create_staff_user: a staff user for the pages, in roles, with a password that passes the validators."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.roles import RISK_MANAGER, user_has_role

STRONG = "Officer-check-4417-kettle"


def test_it_creates_a_staff_user_in_roles_without_admin_rights(db, monkeypatch):
    monkeypatch.setenv("RISKENGINE_PASSWORD", STRONG)
    call_command("create_staff_user", "rita", role=[RISK_MANAGER], noinput=True)
    user = get_user_model().objects.get(username="rita")
    assert user.is_staff and not user.is_superuser and user.check_password(STRONG)
    assert user_has_role(user=user, role=RISK_MANAGER)


def test_it_refuses_a_weak_password_a_taken_name_and_no_password(db, monkeypatch, staff_user):
    monkeypatch.setenv("RISKENGINE_PASSWORD", "password")
    with pytest.raises(CommandError, match="too common"):
        call_command("create_staff_user", "rita", noinput=True)
    monkeypatch.setenv("RISKENGINE_PASSWORD", STRONG)
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_staff_user", staff_user.username, noinput=True)
    monkeypatch.delenv("RISKENGINE_PASSWORD")
    with pytest.raises(CommandError, match="RISKENGINE_PASSWORD"):
        call_command("create_staff_user", "rita", noinput=True)
    assert not get_user_model().objects.filter(username="rita").exists()

"""API keys: create (the key is returned once), revoke, authenticate."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey
from accounts.roles import ROLES
from core.errors import ApplicationError

KEY_PREFIX = "rk"
_LAST_USED_RESOLUTION = timedelta(minutes=5)
_CACHE_MAX_ENTRIES = 10_000

# Accepted keys, by digest: (monotonic expiry, key). Per process; see api_key_authenticate.
_accepted: dict[str, tuple[float, ApiKey]] = {}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """Create a key and the service user it acts as. The plain key is returned once, never stored."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = f"{KEY_PREFIX}_{prefix}_{secret}"
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=f"apikey:{name}"[:150], password=None)
        api_key = ApiKey.objects.create(name=name, prefix=prefix, key_sha256=_digest(key), user=user)
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    _accepted.pop(api_key.key_sha256, None)
    return api_key


def api_key_authenticate(*, key: str) -> ApiKey | None:
    """The active key matching ``key``, or None. Constant-time comparison of the digest.

    An accepted key is remembered by this process for ``API_KEY_CACHE_SECONDS``, which takes a
    database round trip off every request. A key revoked here is forgotten at once; one revoked by
    another process (or whose user was deactivated) is refused within that many seconds. Rejected
    keys are never remembered.
    """
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    digest = _digest(key)
    remembered = _accepted.get(digest)
    if remembered is not None and remembered[0] > time.monotonic():
        return remembered[1]
    api_key = ApiKey.objects.select_related("user").filter(prefix=parts[1]).first()
    if api_key is None or not hmac.compare_digest(api_key.key_sha256, digest):
        return None
    if api_key.revoked_at is not None or not api_key.user.is_active:
        _accepted.pop(digest, None)
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    if settings.API_KEY_CACHE_SECONDS > 0:
        if len(_accepted) >= _CACHE_MAX_ENTRIES:
            _accepted.clear()
        _accepted[digest] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, api_key)
    return api_key


def staff_user_create(*, username: str, password: str, roles: list[str]) -> AbstractUser:
    """A staff user (the web pages; no admin rights) in the given roles' groups; the password must
    pass the configured validators."""
    from django.contrib.auth.models import Group
    from django.contrib.auth.password_validation import validate_password

    model = get_user_model()
    if model.objects.filter(username=username).exists():
        raise ApplicationError(f"A user named {username!r} already exists.", fields={"username": "taken"})
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ApplicationError(
            f"No role {unknown[0]!r}; the roles are: {', '.join(ROLES)}.", fields={"role": "unknown"}
        )
    user = model(username=username, is_staff=True)
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), fields={"password": "too weak"}) from None
    with transaction.atomic():
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get_or_create(name=role)[0] for role in roles])
    return user

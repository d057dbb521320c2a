"""The one place that reads configuration from the environment.

Every reader fails loudly (``ImproperlyConfigured``) on a value it cannot parse,
so a typo in a deployment never silently falls back to a default.

Local runs also read a ``.env`` file in the project root (``make run`` writes one once, with debug
on and random keys), so a ``manage.py`` command pasted into a new shell gets the same settings as
the server. Real environment variables always win over the file. ``RISKENGINE_ENV_FILE`` names
another file, or ``none`` for no file at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

ENV_FILE_VARIABLE = "RISKENGINE_ENV_FILE"
DEFAULT_ENV_FILE = Path(__file__).resolve().parent.parent / ".env"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

T = TypeVar("T")


class Env:
    """Typed accessors over a mapping of environment variables."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def is_set(self, name: str) -> bool:
        return self._environ.get(name, "").strip() != ""

    def string(self, name: str, default: str | None = None) -> str:
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            if default is None:
                raise ImproperlyConfigured(f"Environment variable {name} is required but not set.")
            return default
        return raw.strip()

    def secret(self, name: str, default: str | None = None) -> str:
        """``name``, or the contents of the file ``name_FILE`` names (as Docker and Kubernetes mount
        secrets), without its trailing newline. Setting both is an error: one would be ignored."""
        file_name = f"{name}_FILE"
        if not self.is_set(file_name):
            return self.string(name, default)
        if self.is_set(name):
            raise ImproperlyConfigured(f"Set {name} or {file_name}, not both.")
        path = Path(self._environ[file_name].strip()).expanduser()
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ImproperlyConfigured(f"{file_name}={str(path)!r} cannot be read: {exc}") from None
        if value.strip() == "":
            raise ImproperlyConfigured(f"{file_name}={str(path)!r} is empty.")
        return value

    def secret_is_set(self, name: str) -> bool:
        return self.is_set(name) or self.is_set(f"{name}_FILE")

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._environ.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ImproperlyConfigured(
            f"Environment variable {name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)."
        )

    def integer(self, name: str, default: int, *, min_value: int | None = None, max_value: int | None = None) -> int:
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is not an integer.") from None
        if min_value is not None and value < min_value:
            raise ImproperlyConfigured(f"Environment variable {name}={value} is below the minimum {min_value}.")
        if max_value is not None and value > max_value:
            raise ImproperlyConfigured(f"Environment variable {name}={value} is above the maximum {max_value}.")
        return value

    def strings(self, name: str, default: list[str] | None = None) -> list[str]:
        raw = self._environ.get(name)
        if raw is None:
            return list(default or [])
        return [item.strip() for item in raw.split(",") if item.strip()]

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(name, default).lower()
        if value not in choices:
            raise ImproperlyConfigured(f"Environment variable {name}={value!r} must be one of: {', '.join(choices)}.")
        return value


def environment_with_file(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: the process environment) over the values of the ``.env`` file."""
    environ = os.environ if environ is None else environ
    name = environ.get(ENV_FILE_VARIABLE, "").strip()
    if name.lower() == "none":
        return dict(environ)
    path = Path(name).expanduser() if name else DEFAULT_ENV_FILE
    if name and not path.is_file():
        raise ImproperlyConfigured(f"{ENV_FILE_VARIABLE}={name!r} is not a file.")
    from_file = (
        {key: value for key, value in dotenv_values(path).items() if value is not None} if path.is_file() else {}
    )
    return {**from_file, **environ}


env = Env(environment_with_file())

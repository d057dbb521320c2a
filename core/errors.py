"""The root of every domain error. Plain Python (no Django), so every layer, ``predictions/ml`` too,
can derive from it; ``core.api.errors`` turns any of them into the one JSON error shape."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A failure fit to show a user: a stable ``code``, the HTTP ``status`` it maps to, a ``message``
    and optional per-field details (``fields``: path -> what is wrong) and ``retry_after`` seconds."""

    code = "error"
    status = 400

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields = fields
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


class InternalError(ApplicationError):
    """Something the service itself got wrong (a broken artifact, a missing tool): a 500."""

    code = "server_error"
    status = 500

"""Log formatting: plain text or one JSON object per line, each carrying the request id."""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# Per-request timings of named steps (milliseconds), reported in the Server-Timing header.
timings_var: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("timings", default=None)


def record_timing(name: str, milliseconds: float) -> None:
    timings = timings_var.get()
    if timings is not None:
        timings[name] = timings.get(name, 0.0) + milliseconds


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Add the block's wall time to the request's Server-Timing entry ``name``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        record_timing(name, (time.perf_counter() - started) * 1000)


_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)

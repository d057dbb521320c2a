"""The one JSON parser of the API: bounded depth, finite numbers, clean text, or a 400 that says why."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32
# Integers with more digits than this are refused (Python's own limit is 4,300; nothing here needs 40).
MAX_INTEGER_DIGITS = 40


class _Refused(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(f"an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is out of range")
    return value


def _parse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not valid JSON")


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (an unpaired \\ud800-\\udfff escape)"
    return None


def check_document(value: Any) -> None:
    """Depth at most MAX_DEPTH, and every key and string encodable as PostgreSQL text (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if (problem := _bad_text(item)) is not None:
                raise _Refused(f"a string contains {problem}")
            continue
        if not isinstance(item, list | Mapping):
            continue
        if depth > MAX_DEPTH:
            raise _Refused(f"it is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, Mapping):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        else:
            stack.extend((child, depth + 1) for child in item)


def loads(raw: bytes) -> Any:
    """Parse a request body; ``ParseError`` (a 400) names what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"The body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
        check_document(value)
    except RecursionError:
        raise ParseError(f"Malformed JSON: it is nested more than {MAX_DEPTH} levels deep.") from None
    except _Refused as exc:
        raise ParseError(f"Malformed JSON: {exc}.") from None
    except ValueError as exc:
        raise ParseError(f"Malformed JSON: {str(exc)[:200]}") from None
    return value


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with limits: see :func:`loads`."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        return loads(raw)

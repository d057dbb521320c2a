"""Typed reads of a management command's parsed options (argparse gives an untyped mapping)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class Options:
    """The options ``handle`` receives, each read as the type its ``add_argument`` gives it.

    A wrong type is a bug in the command (its parser and its reads disagree), so it raises
    ``TypeError``, not a user-facing error."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self._raw = raw

    def _get(self, name: str, kind: type[T], *, optional: bool) -> T | None:
        value = self._raw[name]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise TypeError(f"option {name!r} is {type(value).__name__}, not {kind.__name__}")
        return value

    def text(self, name: str) -> str:
        return self._get(name, str, optional=False) or ""

    def optional_text(self, name: str) -> str | None:
        return self._get(name, str, optional=True)

    def integer(self, name: str) -> int:
        value = self._get(name, int, optional=False)
        assert value is not None
        return value

    def optional_integer(self, name: str) -> int | None:
        return self._get(name, int, optional=True)

    def number(self, name: str) -> float:
        value = self._get(name, float | int, optional=False)  # type: ignore[arg-type]  # a union is a valid isinstance target
        assert value is not None
        return float(value)

    def optional_number(self, name: str) -> float | None:
        value = self._get(name, float | int, optional=True)  # type: ignore[arg-type]  # as above
        return None if value is None else float(value)

    def flag(self, name: str) -> bool:
        return bool(self._get(name, bool, optional=False))

    def path(self, name: str) -> Path:
        value = self._get(name, Path, optional=False)
        assert value is not None
        return value

    def optional_path(self, name: str) -> Path | None:
        return self._get(name, Path, optional=True)

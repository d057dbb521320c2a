"""OpenAPI examples of the monitoring API: real answers for the demo history (trimmed), stored in
api_examples.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drf_spectacular.utils import OpenApiExample

EXAMPLES: dict[str, Any] = json.loads((Path(__file__).resolve().parent / "api_examples.json").read_text())


def example(name: str, summary: str) -> OpenApiExample:
    return OpenApiExample(summary, value=EXAMPLES[name], response_only=True, status_codes=["200"])

"""drf-spectacular postprocessing: every operation documents every error it can answer.

The codes follow from what an operation has, so no view can forget one: a request body (400, 413,
415), query parameters (400), path parameters (404), authentication (401), and for all of them the
rate limit (429) and an unreachable database (503). Views still document their own special cases
(the predict endpoints' 422) and examples, which this never overwrites.
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}},
}


def _response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _requires_authentication(operation: dict[str, Any]) -> bool:
    security = operation.get("security") or []
    return bool(security) and {} not in security


# What DRF's CharField accepts, as a JSON Schema pattern: no NUL character (refused as a null
# character) and, where a value is required to be non-empty, a character other than whitespace
# (DRF trims before it checks for blank).
_NO_NUL = "^[^\\u0000]*$"
_NON_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


def _constrain_string(node: dict[str, Any]) -> None:
    if node.get("type") == "string" and not {"enum", "format", "pattern"} & node.keys():
        node["pattern"] = _NON_BLANK if node.get("minLength", 0) >= 1 else _NO_NUL


def string_constraints(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Document how DRF validates strings in request bodies and query parameters (see above)."""

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            _constrain_string(node)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            visit(component)
            if component.get("type") == "object":  # every request serializer is strict (StrictMixin)
                component.setdefault("additionalProperties", False)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    visit(parameter.get("schema", {}))
    return result


def document_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            codes: dict[str, dict[str, Any]] = {}
            if "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
                codes["400"] = _response("Malformed JSON or invalid fields (each named in error.fields)")
            if _requires_authentication(operation):
                codes["401"] = _response("No or bad credentials")
            if "{" in path:
                codes["404"] = _response("No such object (or not yours)")
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True  # every API body is required JSON
                codes["413"] = _response("Body over MAX_BODY_BYTES")
                codes["415"] = _response("Body is not application/json")
            codes["429"] = _response("Too many requests")
            codes["503"] = _response("The database is unreachable; retry later")
            for code, response in codes.items():
                responses.setdefault(code, response)
            for code in ("429", "503"):  # the views' own 429s included
                responses[code].setdefault("headers", dict(_RETRY_AFTER))
    return result

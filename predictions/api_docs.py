"""OpenAPI documentation of the registry's models: the example applicant and each version's bodies."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from predictions.ml.features import feature_json_schema, schema_from_dicts

EXAMPLE_FEATURES = {
    "status_of_existing_checking_account": "... < 0 DM",
    "duration_in_month": 6,
    "credit_history": "critical account/ other credits existing (not at this bank)",
    "purpose": "radio/television",
    "credit_amount": 1169,
    "savings_account_and_bonds": "unknown/ no savings account",
    "present_employment_since": "... >= 7 years",
    "installment_rate_in_percentage_of_disposable_income": 4,
    "other_debtors_or_guarantors": "none",
    "present_residence_since": 4,
    "property": "real estate",
    "age_in_years": 67,
    "other_installment_plans": "none",
    "housing": "own",
    "number_of_existing_credits_at_this_bank": 2,
    "job": "skilled employee / official",
    "number_of_people_being_liable_to_provide_maintenance_for": 1,
    "telephone": "yes, registered under the customers name",
}
# The same applicant's protected attributes: recorded for fairness monitoring, never scored.
EXAMPLE_PROTECTED = {"personal_status_and_sex": "male : divorced/separated", "foreign_worker": True}
SUBJECT_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": 128,
    "description": "The applicant's stable key: a canary sends the same applicant to the same version.",
}


def _closed(properties: dict[str, Any], required: list[str], title: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "properties": properties,
        **({"required": required} if required else {}),  # OpenAPI 3.0: non-empty or absent
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def component_stem(name: str, version: int | None = None) -> str:
    """An identifier-safe CamelCase name for a model (and version): credit@1 -> CreditV1."""
    stem = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part) or "Model"
    if stem[0].isdigit():
        stem = f"M{stem}"
    return stem if version is None else f"{stem}V{version}"


class _Components:
    """Adds named components, keeping every name unique (a clash gets a numeric suffix)."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def add(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        unique, n = name, 2
        while unique in self.schemas:
            unique, n = f"{name}{n}", n + 1
        self.schemas[unique] = {**schema, "title": unique}
        return _ref(unique)


def _version_bodies(components: _Components, version: Any, nearest: dict[str, Any]) -> dict[str, list[Any]]:
    """The request-body alternatives of one version: by model_id, and by name if it is in production."""
    stem = component_stem(version.name, version.version)
    features = components.add(
        f"Features{stem}",
        {
            **feature_json_schema(schema_from_dicts(version.feature_schema)),
            "description": f"The features of {version.model_id}.",
        },
    )
    protected = components.add(
        f"Protected{stem}",
        {
            **feature_json_schema(schema_from_dicts(version.protected_schema)),
            "description": f"The protected attributes of {version.model_id}: optional, stored for fairness "
            "monitoring, never used for the score.",
        },
    )
    given = {"features": features, "protected": protected, "subject_id": SUBJECT_ID}
    item = components.add(f"BatchItem{stem}", _closed(given, ["features"], ""))
    items = {"type": "array", "minItems": 1, "maxItems": settings.PREDICT_BATCH_MAX, "items": item}
    ways = [("model_id", version.model_id, f"ModelId{stem}")]
    if version.is_production:
        ways.append(("model", version.name, f"ModelName{component_stem(version.name)}"))
    out: dict[str, list[Any]] = {"single": [], "batch": [], "similar": []}
    for key, value, choice_name in ways:
        by = (
            f"By{choice_name.removeprefix('Model')}"
            if key == "model_id"
            else f"By{choice_name.removeprefix('ModelName')}"
        )
        choice = components.add(choice_name, {"type": "string", "enum": [value], "description": f"{key} {value}"})
        out["single"].append(components.add(f"Predict{by}", _closed({key: choice, **given}, [key, "features"], "")))
        out["batch"].append(
            components.add(f"PredictBatch{by}", _closed({key: choice, "items": items}, [key, "items"], ""))
        )
        if nearest:
            k = nearest["k"]
            vector = {**nearest["vector"], "not": {"items": {"enum": [0]}}}
            out["similar"].append(
                components.add(
                    f"Nearest{by}Features", _closed({key: choice, "features": features, "k": k}, [key, "features"], "")
                )
            )
            out["similar"].append(
                components.add(
                    f"Nearest{by}Vector", _closed({key: choice, "vector": vector, "k": k}, [key, "vector"], "")
                )
            )
    return out


def registry_request_schemas(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing: the request bodies that carry features (predict, batch,
    nearest) with every registered version's exact feature schema, one alternative (``oneOf``) per
    way of naming a model: ``model_id`` for each version, ``model`` for each production version.
    Each alternative, its features and its model choice are named components with identifier-safe
    names (``FeaturesCreditV1``, ``PredictByIdCreditV1``, ``PredictByCredit``), so client
    generators can use them. Without a readable registry (no database yet) the generic bodies stay.
    """
    from predictions.selectors import model_version_list

    try:
        versions = list(model_version_list())
    except DatabaseError:
        return result
    if not versions:
        return result
    schemas = result["components"]["schemas"]
    nearest = schemas.get("NearestQueryRequest", {}).get("properties", {})
    components = _Components(schemas)
    bodies: dict[str, list[Any]] = {"single": [], "batch": [], "similar": []}
    for version in versions:
        for kind, alternatives in _version_bodies(components, version, nearest).items():
            bodies[kind].extend(alternatives)
    schemas["PredictRequestRequest"] = {
        "description": "Name a model (its production version) or a model_id, and give its features.",
        "oneOf": bodies["single"],
    }
    schemas["BatchRequestRequest"] = {
        "description": f"Name a model or a model_id, and 1 to {settings.PREDICT_BATCH_MAX} items of its features.",
        "oneOf": bodies["batch"],
    }
    schemas.pop("BatchItemRequest", None)
    if bodies["similar"]:
        schemas["NearestQueryRequest"] = {
            "description": "Name a model or a model_id, and give its features (embedded, not stored) or a vector.",
            "oneOf": bodies["similar"],
        }
    return result

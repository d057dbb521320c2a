"""Feature schemas: inference from training data, validation of inputs, and encoding to arrays.

A schema is an ordered list of :class:`FeatureSpec`. Validation is the single gate every input
passes (API, UI form, CSV backfill); it reports every problem per field, never stopping at the first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, cast

import numpy as np
import pandas as pd

from core.errors import ApplicationError
from core.types import JSON, FeatureRow, FeatureValue, JSONObject

FeatureType = Literal["number", "integer", "category", "boolean"]
FEATURE_TYPES: tuple[str, ...] = ("number", "integer", "category", "boolean")

# Any number beyond this magnitude is refused outright, whatever the training range.
ABSOLUTE_LIMIT = 1e12
# Numbers further than this many training spans outside [min, max] are refused as absurd.
RANGE_SLACK_SPANS = 10.0
MAX_CATEGORY_LEVELS = 100
# What a missing category becomes before one-hot encoding (its own column).
MISSING_CATEGORY = "__missing__"

# The text a boolean feature accepts besides JSON true/false (after trimming and case-folding): what
# training data and spreadsheets write for it.
TRUE_WORDS = ("true", "yes", "1", "y", "t")
FALSE_WORDS = ("false", "no", "0", "n", "f")


def parse_boolean(value: object) -> bool | None:
    """``value`` as a boolean (JSON true/false, or one of the words above), or None if it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def _shown(value: object, limit: int = 40) -> str:
    """A value for an error message: never formatted as a float (a 400-digit integer would overflow)."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SchemaError(ApplicationError, ValueError):
    """The training data cannot be turned into a feature schema."""

    code = "invalid_schema"


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    type: FeatureType
    required: bool = True
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    description: str = ""

    def to_dict(self) -> JSONObject:
        data: JSONObject = asdict(self)
        data["choices"] = list(self.choices)
        if self.type == "category":
            data.pop("min")
            data.pop("max")
        else:
            data.pop("choices")
        if self.type == "boolean":
            data.pop("min")
            data.pop("max")
            data["true_values"] = list(TRUE_WORDS)
            data["false_values"] = list(FALSE_WORDS)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> FeatureSpec:
        ftype = data["type"]
        if not isinstance(ftype, str) or ftype not in FEATURE_TYPES:
            raise SchemaError(f"feature {data.get('name')!r} has unknown type {ftype!r}")
        choices = data.get("choices") or []
        return cls(
            name=str(data["name"]),
            type=cast(FeatureType, ftype),
            required=bool(data.get("required", True)),
            choices=tuple(str(c) for c in choices) if isinstance(choices, list) else (),
            min=_bound(data.get("min")),
            max=_bound(data.get("max")),
            description=str(data.get("description", "") or ""),
        )

    def allowed_range(self) -> tuple[float, float]:
        """The widest range of values accepted for a numeric feature."""
        if self.min is None or self.max is None:
            return (-ABSOLUTE_LIMIT, ABSOLUTE_LIMIT)
        span = max(float(self.max) - float(self.min), 1.0)
        low = max(float(self.min) - RANGE_SLACK_SPANS * span, -ABSOLUTE_LIMIT)
        high = min(float(self.max) + RANGE_SLACK_SPANS * span, ABSOLUTE_LIMIT)
        return (low, high)


Schema = Sequence[FeatureSpec]


def _bound(value: JSON) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def schema_from_dicts(items: Iterable[Mapping[str, JSON]]) -> list[FeatureSpec]:
    return [FeatureSpec.from_dict(item) for item in items]


def schema_to_dicts(schema: Schema) -> list[JSONObject]:
    return [spec.to_dict() for spec in schema]


# --- inference --------------------------------------------------------------------------------


def _as_boolean_column(series: pd.Series) -> pd.Series | None:
    values = series.dropna()
    if values.empty:
        return None
    if pd.api.types.is_bool_dtype(values):
        return series.map(lambda v: None if pd.isna(v) else bool(v))
    words = {str(v).strip().casefold() for v in values.unique()}
    if len(words) == 2 and words in ({"true", "false"}, {"yes", "no"}):
        return series.map(lambda v: None if pd.isna(v) else parse_boolean(str(v)))
    return None


def infer_schema(frame: pd.DataFrame, *, descriptions: Mapping[str, str] | None = None) -> list[FeatureSpec]:
    """Infer an ordered schema from the feature columns of ``frame`` (target already removed)."""
    descriptions = descriptions or {}
    schema: list[FeatureSpec] = []
    for name in frame.columns:
        series = frame[name]
        required = not bool(series.isna().any())
        description = descriptions.get(name, "")
        if series.isna().all():
            raise SchemaError(f"column {name!r} has no values")
        if _as_boolean_column(series) is not None:
            schema.append(FeatureSpec(name=name, type="boolean", required=required, description=description))
        elif pd.api.types.is_numeric_dtype(series):
            values = series.dropna().astype(float)
            if not np.isfinite(values).all():
                raise SchemaError(f"column {name!r} contains infinite values")
            integral = bool((values == np.round(values)).all())
            schema.append(
                FeatureSpec(
                    name=name,
                    type="integer" if integral else "number",
                    required=required,
                    min=float(values.min()),
                    max=float(values.max()),
                    description=description,
                )
            )
        else:
            levels = sorted({str(v) for v in series.dropna().unique()})
            if len(levels) > MAX_CATEGORY_LEVELS:
                raise SchemaError(
                    f"column {name!r} has {len(levels)} distinct text values (more than {MAX_CATEGORY_LEVELS}); "
                    "it looks like an identifier or free text: exclude it with --exclude"
                )
            schema.append(
                FeatureSpec(
                    name=name, type="category", required=required, choices=tuple(levels), description=description
                )
            )
    return schema


def encode_frame(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    """Raw training/CSV columns -> the encoded matrix of :func:`encode` (vectorised, no validation)."""
    matrix = np.full((len(frame), len(schema)), np.nan, dtype=np.float64)
    for j, spec in enumerate(schema):
        series = frame[spec.name]
        if spec.type == "boolean":
            as_bool = _as_boolean_column(series)
            if as_bool is None:
                raise SchemaError(f"column {spec.name!r} is not boolean")
            matrix[:, j] = as_bool.map(lambda v: np.nan if v is None else float(v)).to_numpy(dtype=float)
        elif spec.type == "category":
            codes = {choice: float(i) for i, choice in enumerate(spec.choices)}
            matrix[:, j] = series.map(
                lambda v, codes=codes: np.nan if pd.isna(v) else codes.get(str(v), np.nan)
            ).to_numpy(dtype=float)
        else:
            matrix[:, j] = series.astype(float).to_numpy()
    return matrix


# --- validation -------------------------------------------------------------------------------


@dataclass
class Validated:
    """Clean values in schema order (``None`` for an omitted optional feature) or per-field errors."""

    values: FeatureRow = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_number(spec: FeatureSpec, value: object) -> tuple[FeatureValue, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "an integer" if spec.type == "integer" else "a number"
        return None, f"Expected {kind}, got {_describe(value)}."
    if isinstance(value, float) and not math.isfinite(value):
        return None, "Must be a finite number (NaN and Infinity are not allowed)."
    if abs(value) > ABSOLUTE_LIMIT:  # before any formatting as a float: an int may have 400 digits
        return None, f"Value {_shown(value)} is absurdly large (the limit is ±{ABSOLUTE_LIMIT:g})."
    if spec.type == "integer" and isinstance(value, float):
        if not value.is_integer():
            return None, f"Expected an integer, got {value!r}."
        value = int(value)
    low, high = spec.allowed_range()
    if not low <= value <= high:
        return None, (
            f"Value {value:g} is far outside the range seen in training ({spec.min:g} to {spec.max:g})."
            if spec.min is not None and spec.max is not None
            else f"Value {value:g} is out of range."
        )
    return (int(value) if spec.type == "integer" else float(value)), None


def _check_value(spec: FeatureSpec, value: object) -> tuple[FeatureValue, str | None]:
    if spec.type in ("number", "integer"):
        return _check_number(spec, value)
    if spec.type == "boolean":
        parsed = parse_boolean(value)
        if parsed is None:
            shown = _shown(value) if isinstance(value, str) else _describe(value)
            return None, f"Expected true or false (or one of: {', '.join(TRUE_WORDS + FALSE_WORDS)}), got {shown}."
        return parsed, None
    # category
    if not isinstance(value, str):
        return None, f"Expected one of the categories (a string), got {_describe(value)}."
    if value not in spec.choices:
        shown = ", ".join(repr(c) for c in spec.choices[:10])
        more = f" and {len(spec.choices) - 10} more" if len(spec.choices) > 10 else ""
        label = value if len(value) <= 60 else value[:57] + "..."
        return None, f"Unknown category {label!r}; expected one of: {shown}{more}."
    return value, None


def validate_features(schema: Schema, features: object) -> Validated:
    """Validate one input dict against the schema: unknown, missing, mistyped, out-of-range fields."""
    result = Validated()
    if not isinstance(features, Mapping):
        result.errors["features"] = f"Expected an object mapping feature names to values, got {_describe(features)}."
        return result
    known = {spec.name for spec in schema}
    for key in features:
        if key not in known:
            name = str(key)
            result.errors[name if len(name) <= 100 else name[:97] + "..."] = "Unknown feature."
    for spec in schema:
        if spec.name not in features or features[spec.name] is None:
            if spec.required:
                result.errors[spec.name] = "This feature is required."
            else:
                result.values[spec.name] = None
            continue
        value, error = _check_value(spec, features[spec.name])
        if error:
            result.errors[spec.name] = error
        else:
            result.values[spec.name] = value
    if result.errors:
        result.values = {}
    return result


def validate_protected(specs: Schema, values: object) -> Validated:
    """Validate a request's protected attributes: each optional, checked against the values seen in
    training; the clean values leave out the ones not given (an empty dict when none is)."""
    if values is None:
        return Validated()
    result = validate_features(specs, values)
    result.errors = {
        name: "Not a protected attribute of this model." if message == "Unknown feature." else message
        for name, message in result.errors.items()
    }
    result.values = {name: value for name, value in result.values.items() if value is not None}
    return result


def _case_insensitive(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# JSON Schema patterns have no case-insensitive flag: each letter is a class of its two cases.
BOOLEAN_WORD_PATTERN = r"^\s*(" + "|".join(_case_insensitive(w) for w in TRUE_WORDS + FALSE_WORDS) + r")\s*$"


def feature_json_schema(schema: Schema) -> JSONObject:
    """The JSON Schema (OpenAPI 3.0 dialect) of a features object: exactly what validate_features accepts.

    Numbers carry the accepted range (the training range widened by RANGE_SLACK_SPANS spans),
    categories their levels; optional features may be null; no other keys are allowed.
    """
    properties: JSONObject = {}
    for spec in schema:
        prop: JSONObject
        if spec.type == "category":
            # OpenAPI 3.0: an enum must list null to allow it
            prop = {"type": "string", "enum": [*spec.choices, *([] if spec.required else [None])]}
        elif spec.type == "boolean":
            prop = {"oneOf": [{"type": "boolean"}, {"type": "string", "pattern": BOOLEAN_WORD_PATTERN}]}
        else:
            low, high = spec.allowed_range()
            prop = {"type": spec.type, "minimum": low, "maximum": high}
            if spec.type == "integer":
                prop = {"type": "integer", "minimum": math.ceil(low), "maximum": math.floor(high)}
        if spec.description:
            prop["description"] = spec.description
        if not spec.required:
            prop["nullable"] = True
        properties[spec.name] = prop
    required: list[JSON] = [spec.name for spec in schema if spec.required]
    # OpenAPI 3.0 wants a non-empty "required" or none (protected attributes are all optional).
    return {
        "type": "object",
        "properties": properties,
        **({"required": required} if required else {}),
        "additionalProperties": False,
    }


def coerce_text_features(schema: Schema, raw: Mapping[str, FeatureValue]) -> tuple[FeatureRow, dict[str, str]]:
    """Turn text values (CSV cells, form fields) into typed values before :func:`validate_features`.

    Empty strings become ``None`` (omitted). Columns outside the schema are dropped: the caller
    decides whether they are an error (API) or ignored (backfill).
    """
    typed: FeatureRow = {}
    errors: dict[str, str] = {}
    for spec in schema:
        if spec.name not in raw:
            continue
        value = raw[spec.name]
        if value is None or (isinstance(value, str) and value.strip() == ""):
            typed[spec.name] = None
            continue
        if not isinstance(value, str):
            typed[spec.name] = value
            continue
        text = value.strip()
        if spec.type in ("number", "integer"):
            try:
                number = float(text)
            except ValueError:
                errors[spec.name] = (
                    f"Expected {'an integer' if spec.type == 'integer' else 'a number'}, got {_shown(text)}."
                )
                continue
            typed[spec.name] = int(number) if spec.type == "integer" and number.is_integer() else number
        elif spec.type == "boolean":
            parsed = parse_boolean(text)
            if parsed is None:
                errors[spec.name] = f"Expected true or false, got {_shown(text)}."
            else:
                typed[spec.name] = parsed
        else:
            typed[spec.name] = value
    return typed, errors


# --- encoding ---------------------------------------------------------------------------------


def encode(schema: Schema, rows: Sequence[Mapping[str, FeatureValue]]) -> np.ndarray:
    """Validated rows -> float matrix in schema order.

    Numbers as they are, booleans as 0/1, categories as their index in ``choices``; missing is NaN.
    """
    columns = []
    for spec in schema:
        name = spec.name
        if spec.type == "category":
            index = {choice: float(i) for i, choice in enumerate(spec.choices)}
            index_get = index.get
            columns.append([index_get(row.get(name), math.nan) for row in rows])  # type: ignore[arg-type]  # any value may be looked up
        else:
            columns.append([math.nan if (v := row.get(name)) is None else float(v) for row in rows])
    if not rows:
        return np.empty((0, len(schema)), dtype=np.float64)
    return np.array(columns, dtype=np.float64).T.copy()


def to_frame(schema: Schema, encoded: np.ndarray) -> pd.DataFrame:
    """Encoded matrix -> the DataFrame the scikit-learn pipelines take (categories as strings)."""
    columns: dict[str, np.ndarray] = {}
    for j, spec in enumerate(schema):
        column = encoded[:, j]
        if spec.type == "category":
            choices = np.array(spec.choices, dtype=object)
            values = np.full(len(column), np.nan, dtype=object)
            present = ~np.isnan(column)
            values[present] = choices[column[present].astype(int)]
            columns[spec.name] = values
        else:
            columns[spec.name] = column.astype(float)
    return pd.DataFrame(columns)


def decode_row(schema: Schema, encoded_row: np.ndarray) -> FeatureRow:
    """One encoded row back to the typed values an API client sees."""
    out: FeatureRow = {}
    for spec, value in zip(schema, encoded_row, strict=True):
        if np.isnan(value):
            out[spec.name] = None
        elif spec.type == "category":
            out[spec.name] = spec.choices[int(value)]
        elif spec.type == "boolean":
            out[spec.name] = bool(value)
        elif spec.type == "integer":
            out[spec.name] = int(value)
        else:
            out[spec.name] = float(value)
    return out

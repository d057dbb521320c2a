import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from predictions.ml.features import (
    FeatureSpec,
    SchemaError,
    coerce_text_features,
    decode_row,
    encode,
    encode_frame,
    feature_json_schema,
    infer_schema,
    validate_features,
)
from predictions.tests.factories import make_loans_frame

SCHEMA = [
    FeatureSpec(name="income", type="number", required=False, min=1000.0, max=90000.0, description="Yearly income"),
    FeatureSpec(name="age", type="integer", min=18.0, max=79.0),
    FeatureSpec(name="region", type="category", choices=("east", "north", "south", "west"), required=False),
    FeatureSpec(name="has_guarantor", type="boolean"),
]
VALID = {"income": 42000.5, "age": 30, "region": "south", "has_guarantor": False}


def test_it_infers_types_ranges_choices_and_required_from_data():
    frame = make_loans_frame().drop(columns=["status"])
    schema = {spec.name: spec for spec in infer_schema(frame, descriptions={"age": "Age in years"})}
    assert [spec for spec in schema] == ["income", "age", "region", "has_guarantor", "utilisation"]
    assert schema["income"].type == "number" and schema["income"].required is False
    assert schema["age"].type == "integer" and schema["age"].required is True
    assert schema["age"].min == frame["age"].min() and schema["age"].max == frame["age"].max()
    assert schema["age"].description == "Age in years"
    assert schema["region"].type == "category" and schema["region"].choices == ("east", "north", "south", "west")
    assert schema["region"].required is False
    assert schema["has_guarantor"].type == "boolean"


def test_it_refuses_identifier_like_text_columns():
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(500)], "x": range(500)})
    with pytest.raises(SchemaError, match=r"customer_id.*--exclude"):
        infer_schema(frame)


def test_it_accepts_a_valid_row_and_fills_omitted_optional_features():
    result = validate_features(SCHEMA, {"age": 30, "has_guarantor": True})
    assert result.ok
    assert result.values == {"income": None, "age": 30, "region": None, "has_guarantor": True}


def test_it_accepts_integral_floats_for_integers():
    result = validate_features(SCHEMA, {**VALID, "age": 30.0})
    assert result.ok and result.values["age"] == 30 and isinstance(result.values["age"], int)


INVALID_CASES = [
    ("unknown feature", {**VALID, "salary": 1}, "salary", "Unknown feature"),
    ("missing required", {k: v for k, v in VALID.items() if k != "age"}, "age", "required"),
    ("null required", {**VALID, "age": None}, "age", "required"),
    ("string for number", {**VALID, "income": "42000"}, "income", "Expected a number, got a string"),
    ("bool for number", {**VALID, "income": True}, "income", "Expected a number, got a boolean"),
    ("list for number", {**VALID, "income": [1]}, "income", "got a list"),
    ("NaN", {**VALID, "income": float("nan")}, "income", "finite"),
    ("Infinity", {**VALID, "income": math.inf}, "income", "finite"),
    ("-Infinity", {**VALID, "income": -math.inf}, "income", "finite"),
    ("absurdly large", {**VALID, "income": 1e300}, "income", "absurdly large"),
    ("far outside training range", {**VALID, "income": 5e7}, "income", "far outside the range"),
    ("fractional integer", {**VALID, "age": 30.5}, "age", "Expected an integer"),
    ("string for integer", {**VALID, "age": "thirty"}, "age", "Expected an integer"),
    ("unknown category", {**VALID, "region": "central"}, "region", "Unknown category 'central'"),
    ("number for category", {**VALID, "region": 3}, "region", "got a number"),
    ("unknown word for boolean", {**VALID, "has_guarantor": "maybe"}, "has_guarantor", "Expected true or false"),
    ("number for boolean", {**VALID, "has_guarantor": 1}, "has_guarantor", "Expected true or false"),
    ("object for category", {**VALID, "region": {"a": 1}}, "region", "got an object"),
]


@pytest.mark.parametrize(("case", "features", "field", "message"), INVALID_CASES, ids=[c[0] for c in INVALID_CASES])
def test_it_rejects_invalid_features_naming_the_field(case, features, field, message):
    result = validate_features(SCHEMA, features)
    assert not result.ok
    assert field in result.errors, result.errors
    assert message in result.errors[field]
    assert result.values == {}


def test_it_reports_every_bad_field_at_once():
    result = validate_features(SCHEMA, {"income": "x", "region": "mars", "extra": 1})
    assert set(result.errors) == {"income", "region", "extra", "age", "has_guarantor"}


def test_it_rejects_a_non_object():
    result = validate_features(SCHEMA, ["not", "a", "dict"])
    assert result.errors == {"features": "Expected an object mapping feature names to values, got a list."}


def test_it_coerces_text_values_from_csv_or_forms():
    typed, errors = coerce_text_features(
        SCHEMA, {"income": " 1200.5 ", "age": "41", "region": "", "has_guarantor": "Yes", "ignored": "x"}
    )
    assert errors == {}
    assert typed == {"income": 1200.5, "age": 41, "region": None, "has_guarantor": True}
    _, errors = coerce_text_features(SCHEMA, {"income": "12k", "has_guarantor": "perhaps"})
    assert errors == {
        "income": "Expected a number, got '12k'.",
        "has_guarantor": "Expected true or false, got 'perhaps'.",
    }


def test_encoding_round_trips_and_matches_the_vectorised_frame_encoder():
    rows = [
        validate_features(SCHEMA, VALID).values,
        validate_features(SCHEMA, {"age": 20, "has_guarantor": True}).values,
    ]
    encoded = encode(SCHEMA, rows)
    assert encoded.shape == (2, 4)
    assert np.isnan(encoded[1, 0]) and np.isnan(encoded[1, 2])
    assert decode_row(SCHEMA, encoded[0]) == VALID
    frame = pd.DataFrame(
        {"income": [42000.5, None], "age": [30, 20], "region": ["south", None], "has_guarantor": ["no", "yes"]}
    )
    assert np.array_equal(encode_frame(frame, SCHEMA), encoded, equal_nan=True)


@pytest.mark.parametrize(
    "features",
    [
        VALID,
        {"age": 30, "has_guarantor": True},
        {"income": None, "age": 30, "region": None, "has_guarantor": True},
        {"income": 42000.5, "age": 30.5, "has_guarantor": False},
        {"age": 30, "region": "centre", "has_guarantor": False},
        {"age": 30, "has_guarantor": "yes"},
        {"age": 30, "has_guarantor": None},
        {"age": 30, "has_guarantor": True, "shoe_size": 44},
        {"region": "south", "has_guarantor": True},
        {"age": 10**9, "has_guarantor": True},
        {"income": -1e15, "age": 30, "has_guarantor": True},
        {"income": "42000", "age": 30, "has_guarantor": True},
    ],
)
def test_the_json_schema_accepts_exactly_what_validation_accepts(features):
    import jsonschema_rs

    schema: Any = feature_json_schema(SCHEMA)  # read as the plain JSON it is
    # OpenAPI 3.0's "nullable" is JSON Schema's type union.
    for prop in schema["properties"].values():
        if prop.pop("nullable", False):
            prop["type"] = [prop["type"], "null"]
    valid = not validate_features(SCHEMA, features).errors
    assert jsonschema_rs.is_valid(schema, features) == valid


def test_the_json_schema_cases_include_both_outcomes():
    import jsonschema_rs

    schema = feature_json_schema(SCHEMA)
    assert jsonschema_rs.is_valid(schema, VALID)
    assert not jsonschema_rs.is_valid(schema, {**VALID, "region": "centre"})


@pytest.mark.parametrize("word", ["yes", "no", "YES", " No ", "true", "False", "1", "0"])
def test_it_accepts_the_words_a_boolean_was_trained_from(word):
    """A boolean inferred from yes/no data accepts yes/no (and true/false, 1/0) in any case, as the CSV did."""
    frame = pd.DataFrame({"foreign_worker": ["yes", "no", "yes"]})
    [spec] = infer_schema(frame)
    assert spec.type == "boolean"
    result = validate_features([spec], {"foreign_worker": word})
    assert result.ok, result.errors
    assert result.values == {"foreign_worker": word.strip().lower() in ("yes", "true", "1")}


def test_the_boolean_json_schema_matches_the_accepted_words():
    import re

    schema: Any = feature_json_schema([FeatureSpec(name="b", type="boolean")])
    prop = schema["properties"]["b"]
    pattern = re.compile(prop["oneOf"][1]["pattern"])
    for word in ["yes", "No", " TRUE ", "0", "t"]:
        assert pattern.match(word) and validate_features([FeatureSpec(name="b", type="boolean")], {"b": word}).ok
    for word in ["maybe", "yess", ""]:
        assert not pattern.match(word)
        assert not validate_features([FeatureSpec(name="b", type="boolean")], {"b": word}).ok


def test_it_reports_a_huge_integer_without_overflowing():
    result = validate_features(SCHEMA, {**VALID, "age": int("9" * 400)})
    assert "absurdly large" in result.errors["age"]
    assert "..." in result.errors["age"]  # the value is shortened, not formatted as a float

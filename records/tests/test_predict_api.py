import json
import math

import numpy as np
import pytest

from conftest import PASSWORD
from records.models import Record

PREDICT = "/api/predict/"
BATCH = "/api/predict/batch/"
FIELDS = {
    "record_id", "model_id", "risk_score", "risk_label", "base_log_odds", "drivers", "decision", "reasons", "served_by",
    "created_at", "request_id", "subject_id",
}  # fmt: skip


def test_it_predicts_with_a_jwt_and_returns_every_field(jwt_client, german_credit_row):
    response = jwt_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["model_id"] == "credit@1"
    assert 0 < body["risk_score"] < 1
    assert body["risk_label"] in {"low", "medium", "high"}
    assert [d["feature"] for d in body["drivers"]] != []
    assert len(body["drivers"]) == 18
    log_odds = body["base_log_odds"] + sum(d["contribution"] for d in body["drivers"])
    assert 1 / (1 + math.exp(-log_odds)) == pytest.approx(body["risk_score"], abs=1e-9)
    assert body["request_id"] == response["X-Request-ID"]


def test_the_stored_record_holds_everything_and_a_unit_384d_embedding(jwt_client, german_credit_row, api_user):
    response = jwt_client.post(
        PREDICT, {"model": "credit", "features": german_credit_row}, format="json", HTTP_X_REQUEST_ID="req-12345678"
    )
    record = Record.objects.get(pk=response.json()["record_id"])
    assert record.model_id == "credit@1" and record.model_version.model_id == "credit@1"
    assert record.features_json == german_credit_row
    assert record.request_id == "req-12345678" == response["X-Request-ID"]
    assert record.created_by == api_user
    assert record.drivers == response.json()["drivers"]
    by_feature = {d["feature"]: d["contribution"] for d in record.drivers}
    assert record.contributions == [by_feature[spec["name"]] for spec in record.model_version.feature_schema]
    vector = np.asarray(record.embedding)
    assert vector.shape == (384,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_the_same_features_embed_identically_twice(jwt_client, german_credit_row):
    ids = [
        jwt_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json").json()["record_id"]
        for _ in range(2)
    ]
    first, second = (np.asarray(Record.objects.get(pk=i).embedding) for i in ids)
    assert np.array_equal(first, second)
    other = dict(german_credit_row, age_in_years=23, purpose="business")
    third = jwt_client.post(PREDICT, {"model": "credit", "features": other}, format="json").json()["record_id"]
    assert not np.array_equal(first, np.asarray(Record.objects.get(pk=third).embedding))


def test_a_specific_version_can_be_named(jwt_client, german_credit_row):
    response = jwt_client.post(PREDICT, {"model_id": "credit@1", "features": german_credit_row}, format="json")
    assert response.status_code == 201 and response.json()["model_id"] == "credit@1"


def test_a_batch_of_100_stores_100_records_in_order(jwt_client, german_credit_row):
    items = [
        {"features": dict(german_credit_row, age_in_years=20 + i % 50, credit_amount=500 + 37 * i)} for i in range(100)
    ]
    response = jwt_client.post(BATCH, {"model": "credit", "items": items}, format="json")
    assert response.status_code == 201, response.content
    results = response.json()["results"]
    assert len(results) == 100 and Record.objects.count() == 100
    for item, result in zip(items, results, strict=True):
        assert Record.objects.get(pk=result["record_id"]).features_json == item["features"]


def test_an_invalid_batch_lists_every_bad_item_and_stores_nothing(jwt_client, german_credit_row):
    items = [{"features": german_credit_row} for _ in range(10)]
    items[3] = {"features": dict(german_credit_row, age_in_years="old")}
    items[7] = {"features": {k: v for k, v in german_credit_row.items() if k != "purpose"}}
    response = jwt_client.post(BATCH, {"model": "credit", "items": items}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_features"
    assert error["fields"] == {
        "items[3].features.age_in_years": "Expected an integer, got a string.",
        "items[7].features.purpose": "This feature is required.",
    }
    assert Record.objects.count() == 0


def test_an_api_key_authenticates_and_a_revoked_key_gets_401(
    api_client, api_key, demo_model, embedder, german_credit_row
):
    from accounts.services import api_key_revoke

    key_row, key = api_key
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = api_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 201, response.content
    record = Record.objects.get(pk=response.json()["record_id"])
    assert record.api_key == key_row and record.created_by == key_row.user
    api_key_revoke(api_key=key_row)
    response = api_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert Record.objects.count() == 1


def test_api_keys_are_stored_hashed(api_key):
    key_row, key = api_key
    assert key not in key_row.key_sha256 and len(key_row.key_sha256) == 64
    assert key.startswith(f"rk_{key_row.prefix}_")


def test_refresh_tokens_rotate_and_the_old_one_is_blacklisted(api_client, api_user):
    tokens = api_client.post("/api/token/", {"username": "service", "password": PASSWORD}, format="json").json()
    rotated = api_client.post("/api/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert rotated.status_code == 200 and rotated.json()["refresh"] != tokens["refresh"]
    again = api_client.post("/api/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401
    assert api_client.post("/api/token/verify/", {"token": rotated.json()["access"]}, format="json").status_code == 200


def test_staff_sessions_work_for_the_ui(client, staff_user, demo_model, embedder, german_credit_row):
    client.force_login(staff_user)
    response = client.post(PREDICT, {"model": "credit", "features": german_credit_row}, content_type="application/json")
    assert response.status_code == 201


def _big_body() -> str:
    return json.dumps({"model": "credit", "features": {"x": "a" * (5 * 1024 * 1024)}})


MALFORMED = [
    # (case, path, body, content_type, auth, status, code)
    ("no credentials", PREDICT, {"model": "credit", "features": {}}, "json", None, 401, "not_authenticated"),
    (
        "bad bearer token",
        PREDICT,
        {"model": "credit", "features": {}},
        "json",
        "Bearer nope",
        401,
        "authentication_failed",
    ),
    (
        "bad api key",
        PREDICT,
        {"model": "credit", "features": {}},
        "json",
        "Api-Key rk_x_y",
        401,
        "authentication_failed",
    ),
    ("malformed json", PREDICT, '{"model": "credit", "features": {', "raw", "ok", 400, "malformed_json"),
    (
        "NaN literal",
        PREDICT,
        '{"model": "credit", "features": {"age_in_years": NaN}}',
        "raw",
        "ok",
        400,
        "malformed_json",
    ),
    ("form encoded", PREDICT, "model=credit", "form", "ok", 415, "unsupported_media_type"),
    ("text/plain", PREDICT, "hello", "text", "ok", 415, "unsupported_media_type"),
    ("body not an object", PREDICT, [1, 2], "json", "ok", 400, "invalid"),
    ("no model", PREDICT, {"features": {}}, "json", "ok", 400, "invalid"),
    (
        "model and model_id",
        PREDICT,
        {"model": "credit", "model_id": "credit@1", "features": {}},
        "json",
        "ok",
        400,
        "invalid",
    ),
    ("features missing", PREDICT, {"model": "credit"}, "json", "ok", 400, "invalid"),
    ("misspelt field", PREDICT, {"model": "credit", "feature": {}}, "json", "ok", 400, "invalid"),
    (
        "batch item extra field",
        BATCH,
        {"model": "credit", "items": [{"features": {}, "id": 1}]},
        "json",
        "ok",
        400,
        "invalid",
    ),
    ("features not an object", PREDICT, {"model": "credit", "features": [1]}, "json", "ok", 400, "invalid"),
    ("unknown model", PREDICT, {"model": "fraud", "features": {}}, "json", "ok", 404, "model_not_found"),
    ("unknown version", PREDICT, {"model_id": "credit@9", "features": {}}, "json", "ok", 404, "model_not_found"),
    ("bad model_id", PREDICT, {"model_id": "credit", "features": {}}, "json", "ok", 404, "model_not_found"),
    (
        "unknown feature",
        PREDICT,
        {"model": "credit", "features": {"shoe_size": 44}},
        "json",
        "ok",
        400,
        "invalid_features",
    ),
    ("wrong type", PREDICT, "row:age_in_years=forty", "row", "ok", 400, "invalid_features"),
    ("unknown category", PREDICT, "row:purpose=yacht", "row", "ok", 400, "invalid_features"),
    ("huge number", PREDICT, "row:credit_amount=1e300", "row", "ok", 400, "invalid_features"),
    ("body too large", PREDICT, "big", "big", "ok", 413, "too_large"),
    ("batch empty", BATCH, {"model": "credit", "items": []}, "json", "ok", 400, "invalid"),
    ("batch items not a list", BATCH, {"model": "credit", "items": {"a": 1}}, "json", "ok", 400, "invalid"),
    ("batch item without features", BATCH, {"model": "credit", "items": [{"x": 1}]}, "json", "ok", 400, "invalid"),
    ("batch over the limit", BATCH, "batch:1001", "batch", "ok", 400, "invalid"),
    ("GET on predict", PREDICT, None, "get", "ok", 405, "method_not_allowed"),
    ("idempotency key too long", PREDICT, "idem", "idem", "ok", 400, "invalid"),
    ("50,000 nested arrays", PREDICT, "[" * 50_000, "raw", "ok", 400, "malformed_json"),
    ("50,000 nested arrays, no credentials", "/api/token/", "[" * 50_000, "raw", None, 400, "malformed_json"),
    ("nested 33 deep", PREDICT, '{"model": "credit", "features": ' + "[" * 32 + "]" * 32 + "}", "raw", "ok", 400,
     "malformed_json"),
    ("a lone surrogate", PREDICT, '{"model": "credit", "features": {"purpose": "\\ud800"}}', "raw", "ok", 400,
     "malformed_json"),
    ("a NUL in a feature value", PREDICT, '{"model": "credit", "features": {"purpose": "car\\u0000"}}', "raw", "ok",
     400, "malformed_json"),
    ("a NUL in a key", PREDICT, '{"model": "credit", "features": {"pur\\u0000pose": "car"}}', "raw", "ok", 400,
     "malformed_json"),
    ("invalid UTF-8", PREDICT, b'{"model": "cr\xffedit", "features": {}}', "raw", "ok", 400, "malformed_json"),
    ("a 400-digit integer", PREDICT, '{"model": "credit", "features": {"credit_amount": ' + "9" * 400 + "}}", "raw",
     "ok", 400, "malformed_json"),
    ("an overflowing float", PREDICT, '{"model": "credit", "features": {"credit_amount": 1e999}}', "raw", "ok", 400,
     "malformed_json"),
    ("a unicode superscript version", PREDICT, {"model_id": "credit@\u00b2", "features": {}}, "json", "ok", 404,
     "model_not_found"),
    ("an Arabic-Indic digit version", PREDICT, {"model_id": "credit@\u0661", "features": {}}, "json", "ok", 404,
     "model_not_found"),
    ("a version beyond any integer column", PREDICT, {"model_id": "credit@" + "9" * 30, "features": {}}, "json", "ok",
     404, "model_not_found"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "path", "body", "kind", "auth", "status", "code"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_requests_get_their_documented_4xx_and_store_nothing(
    case, path, body, kind, auth, status, code, api_client, api_user, demo_model, embedder, german_credit_row
):
    from rest_framework_simplejwt.tokens import AccessToken

    if auth == "ok":
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(api_user)}")
    elif auth:
        api_client.credentials(HTTP_AUTHORIZATION=auth)
    extra = {}
    if kind == "json":
        response = api_client.post(path, body, format="json")
    elif kind == "raw":
        response = api_client.post(path, body, content_type="application/json")
    elif kind == "form":
        response = api_client.post(path, body, content_type="application/x-www-form-urlencoded")
    elif kind == "text":
        response = api_client.post(path, body, content_type="text/plain")
    elif kind == "row":
        name, _, raw = body.removeprefix("row:").partition("=")
        value = float(raw) if raw[0].isdigit() else raw
        response = api_client.post(
            path, {"model": "credit", "features": dict(german_credit_row, **{name: value})}, format="json"
        )
    elif kind == "big":
        response = api_client.post(path, _big_body(), content_type="application/json")
    elif kind == "batch":
        count = int(body.split(":")[1])
        response = api_client.post(
            path, {"model": "credit", "items": [{"features": german_credit_row}] * count}, format="json"
        )
    elif kind == "get":
        response = api_client.get(path)
    elif kind == "idem":
        extra = {"HTTP_IDEMPOTENCY_KEY": "k" * 300}
        response = api_client.post(path, {"model": "credit", "features": german_credit_row}, format="json", **extra)
    assert response.status_code == status, response.content[:500]
    payload = response.json()
    assert payload["error"]["code"] == code
    assert payload["request_id"] == response["X-Request-ID"]
    assert Record.objects.count() == 0


def test_invalid_features_name_each_field(jwt_client, german_credit_row):
    bad = dict(german_credit_row, age_in_years="old", purpose="yacht", shoe_size=44)
    del bad["housing"]
    fields = jwt_client.post(PREDICT, {"model": "credit", "features": bad}, format="json").json()["error"]["fields"]
    assert set(fields) == {"features.age_in_years", "features.purpose", "features.shoe_size", "features.housing"}


def test_requests_over_the_rate_limit_get_429_with_retry_after(jwt_client, german_credit_row, monkeypatch):
    from accounts.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/hour"})
    statuses = [
        jwt_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    response = jwt_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "throttled"
    assert Record.objects.count() == 2


def test_the_request_id_is_generated_when_missing_or_malformed(client):
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"] != "bad id with spaces"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="trace-0001:abc")["X-Request-ID"] == "trace-0001:abc"


def test_unknown_api_paths_are_json_404s(client):
    response = client.get("/api/nothing-here/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_a_boolean_accepts_the_words_it_was_trained_from(jwt_client, german_credit_row):
    """foreign_worker (a protected attribute) holds yes/no in the training CSV; the API takes the
    same row the backfill takes."""
    for word, expected in (("yes", True), ("No", False), (True, True)):
        body = {"model": "credit", "features": german_credit_row, "protected": {"foreign_worker": word}}
        response = jwt_client.post("/api/predict/", body, format="json")
        assert response.status_code == 201, response.content
        assert Record.objects.get(pk=response.json()["record_id"]).protected["foreign_worker"] is expected
    body = {"model": "credit", "features": german_credit_row, "protected": {"foreign_worker": "perhaps"}}
    response = jwt_client.post("/api/predict/", body, format="json")
    assert response.status_code == 400
    assert "protected.foreign_worker" in response.json()["error"]["fields"]


def test_metadata_says_which_words_a_boolean_accepts(client, staff_user, demo_model):
    client.force_login(staff_user)
    [model] = client.get("/api/metadata/").json()["models"]
    [spec] = [s for s in model["protected_schema"] if s["name"] == "foreign_worker"]
    assert spec["type"] == "boolean" and "yes" in spec["true_values"] and "no" in spec["false_values"]


@pytest.mark.django_db
def test_a_long_forwarded_for_header_is_not_a_500(client, settings):
    settings.TRUSTED_PROXIES = 1
    settings.METADATA_PUBLIC = True  # an anonymous client, counted by its address
    response = client.get("/api/metadata/", HTTP_X_FORWARDED_FOR="1" * 5000)
    assert response.status_code == 200


@pytest.mark.parametrize("subject", [0, True, ["a"]])
def test_a_subject_id_that_is_not_text_is_a_400_naming_it(jwt_client, german_credit_row, subject):
    """DRF's CharField turned 0 into "0"; the schema says a string (schemathesis found it)."""
    body = {"model": "credit", "features": german_credit_row, "subject_id": subject}
    response = jwt_client.post("/api/predict/", body, format="json")
    assert response.status_code == 400
    assert "subject_id" in response.json()["error"]["fields"]
    assert not Record.objects.exists()


def test_a_tabular_row_is_encoded_once_per_request(jwt_client, german_credit_row, demo_model, monkeypatch):
    """The score and the tabular embedding share one encoding (each used to encode the row itself)."""
    from predictions.ml import features, scoring

    assert demo_model.embedder == "tabular"
    calls = []
    original = features.encode

    def counted(schema, rows):
        calls.append(len(rows))
        return original(schema, rows)

    monkeypatch.setattr(features, "encode", counted)
    monkeypatch.setattr(scoring, "encode", counted)
    response = jwt_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 201
    batch = jwt_client.post(
        f"{PREDICT}batch/", {"model": "credit", "items": [{"features": german_credit_row}] * 3}, format="json"
    )
    assert batch.status_code == 201, batch.content
    assert calls == [1, 3]


def test_a_dry_run_answers_the_same_and_stores_and_replays_nothing(jwt_client, german_credit_row):
    body = {"model": "credit", "features": german_credit_row, "subject_id": "what-if-1"}
    headers = {"HTTP_IDEMPOTENCY_KEY": "dry-1"}
    dry = jwt_client.post(f"{PREDICT}?dry_run=true", body, format="json", **headers)
    assert dry.status_code == 200 and dry.json()["record_id"] is None and set(dry.json()) == FIELDS
    assert not Record.objects.exists() and "Idempotent-Replayed" not in dry
    again = jwt_client.post(f"{PREDICT}?dry_run=true", body, format="json", **headers)
    assert again.status_code == 200 and not Record.objects.exists()
    real = jwt_client.post(PREDICT, body, format="json")
    assert real.status_code == 201 and Record.objects.count() == 1
    same = {k: v for k, v in dry.json().items() if k not in ("record_id", "created_at", "request_id")}
    assert same == {k: v for k, v in real.json().items() if k not in ("record_id", "created_at", "request_id")}
    bad = jwt_client.post(f"{PREDICT}?dry_run=maybe", body, format="json")
    assert bad.status_code == 400 and "dry_run" in bad.json()["error"]["fields"]
    long_key = jwt_client.post(f"{PREDICT}?dry_run=true", body, format="json", HTTP_IDEMPOTENCY_KEY="k" * 300)
    assert long_key.status_code == 400 and "Idempotency-Key" in long_key.json()["error"]["fields"]

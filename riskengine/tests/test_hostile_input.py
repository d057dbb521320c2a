"""Property-based: hostile bodies, query strings and headers at every endpoint never get a 500.

Beside the schemathesis run (which generates from the OpenAPI schema, so mostly well-formed input),
hypothesis throws what a schema does not describe at every API endpoint and HTML page, with and
without credentials: nesting far deeper than allowed, integers of hundreds of digits, huge and tiny
floats, Infinity and NaN, unicode digits, NUL, lone surrogates, invalid UTF-8, long headers and the
wrong type at every level. The only acceptable answers are a success or one of the documented 4xx
codes, and nothing is half-written: records appear only with a 201 that names them.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from records.models import Record

pytestmark = pytest.mark.slow  # hundreds of hypothesis cases per test

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "400"))
DOCUMENTED = {200, 201, 204, 301, 302, 400, 401, 403, 404, 405, 406, 413, 415, 422, 429}

API_POSTS = [
    "/api/token/", "/api/token/refresh/", "/api/token/verify/", "/api/predict/", "/api/predict/batch/",
    "/api/records/nearest/", "/api/records/{id}/outcome/",
]  # fmt: skip
API_GETS = [
    "/api/records/", "/api/records/{id}/", "/api/records/{id}/nearest/", "/api/metadata/", "/api/models/",
    "/api/models/credit/", "/api/models/{text}/", "/api/records/{text}/",
]  # fmt: skip
PAGE_GETS = [
    "/", "/records/", "/records/{id}/", "/records/{id}/similar/", "/models/", "/records/import/",
    "/records/{text}/", "/accounts/login/", "/healthz", "/readyz", "/metrics",
]  # fmt: skip
PAGE_POSTS = [
    "/", "/records/{id}/outcome/", "/models/{int}/promote/", "/models/credit/rollback/", "/accounts/login/",
    "/admin/login/", "/records/import/",
]  # fmt: skip
QUERY_KEYS = [
    "model", "model_id", "risk_label", "score_min", "score_max", "created_after", "created_before", "has_outcome",
    "outcome", "ordering", "page_size", "cursor", "k",
]  # fmt: skip
BODY_KEYS = [
    "model", "model_id", "features", "items", "vector", "k", "outcome", "observed_at", "username", "password",
    "refresh", "token",
]  # fmt: skip

# Text a schema rarely produces: unicode digits, NUL, lone surrogates, control and format characters.
nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["²", "\u0661\u0662", "\U0001d7d7",
                     "\x00", "\ud800", "credit@²", "credit@\u0661", "0001-01-01", "9999-12-31T23:59:59Z",
                     "2024-02-30", "-1", "1e999", "NaN", "Infinity", "yes", "", " ", "\u202e", "%00"]),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "Nd", "No", "Cf"]), max_size=20),
)  # fmt: skip
numbers = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 5e-324, 1.7976931348623157e308, 2**63, -(2**63) - 1]),
)
leaves = st.one_of(st.none(), st.booleans(), numbers, nasty_text)
documents = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(BODY_KEYS), nasty_text), children, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def deep(draw: Any) -> Any:
    value: Any = draw(leaves)
    for _ in range(draw(st.integers(min_value=1, max_value=200))):
        value = [value] if draw(st.booleans()) else {"features": value}
    return value


@st.composite
def bodies(draw: Any, row: dict[str, Any]) -> bytes:
    kind = draw(st.sampled_from(["document", "deep", "features", "raw", "text", "brackets"]))
    if kind == "brackets":  # deeper than any recursive parser goes
        return draw(st.sampled_from([b"[", b'{"a":'])) * draw(st.integers(min_value=1000, max_value=60_000))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return draw(nasty_text).encode("utf-8", "surrogatepass")
    if kind == "features":  # a valid request with one hostile value at one place
        value = draw(documents)
        body: dict[str, Any] = {"model": "credit", "features": {**row, draw(st.sampled_from(sorted(row))): value}}
        if draw(st.booleans()):
            body = {"model": "credit", "items": [{"features": body["features"]}]}
        document: Any = body
    else:
        document = draw(documents) if kind == "document" else draw(deep())
    return json.dumps(document, allow_nan=True).encode("utf-8", "surrogatepass")


headers = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_X_FORWARDED_FOR": st.sampled_from(["1" * 5000, "10.0.0.1, " * 300, "::1", "\x00"]),
        "HTTP_X_REQUEST_ID": nasty_text,
        "HTTP_IDEMPOTENCY_KEY": st.one_of(nasty_text, st.just("k" * 10_000)),
        "HTTP_AUTHORIZATION": st.one_of(
            nasty_text.map(lambda t: f"Bearer {t}"), nasty_text.map(lambda t: f"Api-Key {t}")
        ),
        "HTTP_HX_REQUEST": st.just("true"),
    },
)  # fmt: skip
queries = st.dictionaries(st.one_of(st.sampled_from(QUERY_KEYS), nasty_text), nasty_text, max_size=4)


def _path(template: str, record_id: str, data: Any) -> str:
    """The path with a hostile segment, percent-encoded as raw bytes (invalid UTF-8 included)."""
    text = quote(data.draw(nasty_text).encode("utf-8", "surrogatepass"), safe="")
    return template.format(id=record_id, text=text, int=data.draw(st.integers(0, 10**30)))


def _safe(value: str) -> str:
    """A header value as a server can receive it (WSGI hands over latin-1 text)."""
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


@pytest.fixture
def relaxed_limits(monkeypatch):
    from django.conf import settings as django_settings

    from accounts.throttling import _DatabaseRateThrottle

    monkeypatch.setattr(_DatabaseRateThrottle, "THROTTLE_RATES", {"user": "1000000/min", "anon": "1000000/min"})
    monkeypatch.setattr(django_settings, "LOGIN_ATTEMPTS_PER_15_MIN", 10**6)


@pytest.fixture
def clients(relaxed_limits, demo_model, embedder, staff_user, api_user, make_records):
    from rest_framework_simplejwt.tokens import AccessToken

    record = make_records(1, user=api_user)[0]
    staff = Client()
    staff.force_login(staff_user)
    jwt = f"Bearer {AccessToken.for_user(api_user)}"
    return {"anonymous": (Client(), {}), "jwt": (Client(), {"HTTP_AUTHORIZATION": jwt}), "staff": (staff, {})}, str(
        record.pk
    )


def _check(response: Any, before: int) -> None:
    assert response.status_code in DOCUMENTED, (response.status_code, response.content[:300])
    created = 0
    if response.status_code == 201 and response.get("Content-Type", "").startswith("application/json"):
        payload = response.json()
        created = len(payload.get("results", [])) if "results" in payload else int("record_id" in payload)
    assert Record.objects.count() <= before + created  # nothing stored beside what a 201 reports


HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@HYPOTHESIS
@given(data=st.data())
def test_hostile_bodies_get_a_documented_answer(clients, german_credit_row, data):
    by_name, record_id = clients
    client, auth = by_name[data.draw(st.sampled_from(sorted(by_name)))]
    page = data.draw(st.booleans())
    path = _path(data.draw(st.sampled_from(PAGE_POSTS if page else API_POSTS)), record_id, data)
    body = data.draw(bodies(german_credit_row))
    extra = {key: _safe(value) for key, value in data.draw(headers).items()}
    content_type = data.draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]))
    before = Record.objects.count()
    response = client.post(path, data=body, content_type=content_type, **{**auth, **extra})
    _check(response, before)


@HYPOTHESIS
@given(data=st.data())
def test_hostile_query_strings_and_headers_get_a_documented_answer(clients, data):
    by_name, record_id = clients
    client, auth = by_name[data.draw(st.sampled_from(sorted(by_name)))]
    path = _path(data.draw(st.sampled_from(API_GETS + PAGE_GETS)), record_id, data)
    query = {_safe(k): _safe(v) for k, v in data.draw(queries).items()}
    extra = {key: _safe(value) for key, value in data.draw(headers).items()}
    before = Record.objects.count()
    response = client.get(path, query, **{**auth, **extra})
    _check(response, before)

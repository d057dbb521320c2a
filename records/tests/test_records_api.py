from datetime import timedelta

import pytest
from django.utils import timezone

from records.models import Record

LIST = "/api/records/"


@pytest.fixture
def staff_api(api_client, staff_user):
    api_client.force_authenticate(staff_user)
    return api_client


def _ids(response):
    return [r["id"] for r in response.json()["results"]]


def test_the_list_is_newest_first_with_summary_fields(staff_api, make_records):
    records = make_records(5)
    response = staff_api.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert _ids(response) == [str(r.pk) for r in reversed(records)]
    summary = {"id", "timestamp", "model_id", "subject_id", "risk_score", "risk_label", "decision", "outcome"}
    assert set(body["results"][0]) == summary


def test_each_filter_narrows_the_list(staff_api, make_records, german_credit_trained):
    records = make_records(30)
    Record.objects.filter(pk__in=[r.pk for r in records[:4]]).update(outcome=True)
    Record.objects.filter(pk__in=[r.pk for r in records[4:6]]).update(outcome=False)
    from predictions.services import model_version_register

    model_version_register(trained=german_credit_trained, name="other")
    scores = sorted(r.risk_score for r in records)
    low, high = scores[5], scores[20]
    middle = records[10].timestamp
    cases = {
        "model=credit": lambda r: True,
        "model=other": lambda r: False,
        "model_id=credit@1": lambda r: True,
        "model_id=credit@2": lambda r: False,
        "risk_label=low": lambda r: r.risk_label == "low",
        "risk_label=low&risk_label=high": lambda r: r.risk_label in {"low", "high"},
        "risk_label=medium,high": lambda r: r.risk_label in {"medium", "high"},
        f"score_min={low}": lambda r: r.risk_score >= low,
        f"score_max={high}": lambda r: r.risk_score <= high,
        f"score_min={low}&score_max={high}": lambda r: low <= r.risk_score <= high,
        "created_after=" + middle.isoformat().replace("+00:00", "Z"): lambda r: r.timestamp >= middle,
        "created_before=" + middle.isoformat().replace("+00:00", "Z"): lambda r: r.timestamp < middle,
        "has_outcome=true": lambda r: r.pk in {x.pk for x in records[:6]},
        "has_outcome=false": lambda r: r.pk not in {x.pk for x in records[:6]},
        "outcome=true": lambda r: r.pk in {x.pk for x in records[:4]},
        "outcome=false": lambda r: r.pk in {x.pk for x in records[4:6]},
        "segment_feature=housing&segment_value=rent": lambda r: r.features_json["housing"] == "rent",
        "segment_feature=telephone&segment_value=true": lambda r: r.features_json["telephone"] is True,
        "segment_feature=credit_amount&segment_value=1169": lambda r: r.features_json["credit_amount"] == 1169,
    }
    for query, keep in cases.items():
        got = set(_ids(staff_api.get(f"{LIST}?{query}&page_size=200")))
        expected = {str(r.pk) for r in records if keep(r)}
        assert got == expected, query


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("score_min=abc", "score_min"),
        ("score_min=1.5", "score_min"),
        ("score_max=-0.1", "score_max"),
        ("score_min=0.8&score_max=0.2", "score_max"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2026-13-40", "created_before"),
        ("created_after=2026-02-01T00:00:00Z&created_before=2026-01-01T00:00:00Z", "created_before"),
        ("has_outcome=maybe", "has_outcome"),
        ("outcome=2", "outcome"),
        ("ordering=name", "ordering"),
        ("page_size=0", "page_size"),
        ("page_size=201", "page_size"),
        ("page_size=ten", "page_size"),
        ("cursor=garbage", "cursor"),
        ("risk_label=" + "x" * 40, "risk_label"),
        ("segment_feature=housing", "segment_value"),
        ("segment_value=rent", "segment_feature"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(staff_api, query, parameter):
    response = staff_api.get(f"{LIST}?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert any(key == parameter or key.startswith(f"{parameter}[") for key in error["fields"]), error


@pytest.mark.parametrize("ordering", ["-timestamp", "timestamp", "-risk_score", "risk_score"])
def test_cursor_pages_have_no_overlaps_or_gaps_while_records_arrive(staff_api, make_records, ordering):
    original = {str(r.pk) for r in make_records(23)}
    seen: list[str] = []
    url = f"{LIST}?ordering={ordering}&page_size=5"
    pages = 0
    while url:
        response = staff_api.get(url)
        assert response.status_code == 200
        seen += _ids(response)
        url = response.json()["next"]
        pages += 1
        if pages == 2:  # new records arrive between pages, timestamped now
            arrived = make_records(3, start=500)
            Record.objects.filter(pk__in=[r.pk for r in arrived]).update(timestamp=timezone.now())
    assert len(seen) == len(set(seen)), "a record appeared twice"
    assert original <= set(seen), "a record was skipped"
    values = {str(r.pk): (r.timestamp, r.risk_score) for r in Record.objects.all()}
    key = (lambda i: values[i][0]) if "timestamp" in ordering else (lambda i: values[i][1])
    keys = [key(i) for i in seen]
    assert keys == sorted(keys, reverse=ordering.startswith("-"))


def test_previous_links_walk_back_to_the_same_pages(staff_api, make_records):
    make_records(12)
    first = staff_api.get(f"{LIST}?page_size=5").json()
    second = staff_api.get(first["next"]).json()
    back = staff_api.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert back["previous"] is None and first["previous"] is None


def test_detail_returns_everything(staff_api, make_records, staff_user):
    record = make_records(1)[0]
    body = staff_api.get(f"{LIST}{record.pk}/").json()
    assert body["id"] == str(record.pk)
    assert body["features"] == record.features_json
    assert body["embedding"] is None  # 384 floats only when asked for
    assert len(staff_api.get(f"{LIST}{record.pk}/", {"include": "embedding"}).json()["embedding"]) == 384
    assert staff_api.get(f"{LIST}{record.pk}/", {"include": "everything"}).status_code == 400
    assert staff_api.get(f"{LIST}{record.pk}/?include=").status_code == 400  # the fuzzer's find
    assert body["drivers"] == record.drivers and body["base_log_odds"] == record.base_log_odds
    for key in ("model_id", "request_id", "created_by", "outcome", "outcome_observed_at", "risk_score", "risk_label"):
        assert key in body


def test_an_unknown_or_malformed_id_is_a_404(staff_api, db):
    assert staff_api.get(f"{LIST}00000000-0000-0000-0000-000000000000/").status_code == 404
    assert staff_api.get(f"{LIST}not-a-uuid/").status_code == 404


def test_an_api_client_sees_and_changes_only_its_own_records(api_client, make_records, api_user, other_api_user):
    mine = make_records(3, user=api_user)
    theirs = make_records(2, user=other_api_user, start=100)
    api_client.force_authenticate(api_user)
    assert set(_ids(api_client.get(LIST))) == {str(r.pk) for r in mine}
    other = theirs[0]
    for response in (
        api_client.get(f"{LIST}{other.pk}/"),
        api_client.get(f"{LIST}{other.pk}/nearest/"),
        api_client.post(f"{LIST}{other.pk}/outcome/", {"outcome": True}, format="json"),
    ):
        assert response.status_code == 404
    assert Record.objects.get(pk=other.pk).outcome is None
    neighbours = api_client.get(f"{LIST}{mine[0].pk}/nearest/?k=10").json()["results"]
    assert {n["id"] for n in neighbours} <= {str(r.pk) for r in mine}


def test_staff_see_every_record(staff_api, make_records, api_user, other_api_user):
    make_records(2, user=api_user)
    make_records(2, user=other_api_user, start=50)
    assert len(_ids(staff_api.get(LIST))) == 4


def test_the_list_does_not_count_rows(staff_api, make_records, django_assert_max_num_queries):
    make_records(3)
    with django_assert_max_num_queries(3) as queries:
        staff_api.get(LIST)
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_timestamps_filters_accept_offsets(staff_api, make_records):
    records = make_records(3)
    after = (records[1].timestamp + timedelta(hours=2)).astimezone(timezone.get_fixed_timezone(120))
    response = staff_api.get(LIST, {"created_after": after.isoformat()})
    assert response.status_code == 200
    assert _ids(response) == [str(records[2].pk)] if records[2].timestamp >= after else _ids(response) == []


def test_label_and_score_filters_that_contradict_return_nothing_without_scanning(staff_api, make_records, staff_user):
    from records.selectors import RecordFilters, record_list

    records = make_records(20)
    assert _ids(staff_api.get(f"{LIST}?risk_label=high&score_max=0.2")) == []
    from django.db.models.sql.where import NothingNode

    queryset = record_list(user=staff_user, filters=RecordFilters(risk_labels=["high"], score_max=0.2))
    assert any(isinstance(child, NothingNode) for child in queryset.query.where.children)  # no SQL at all
    medium = {str(r.pk) for r in records if r.risk_label == "medium" and r.risk_score <= 0.45}
    assert set(_ids(staff_api.get(f"{LIST}?risk_label=medium&score_min=0.1&score_max=0.45&page_size=200"))) == medium


@pytest.mark.parametrize(
    "raw",
    [
        {"o": "-timestamp", "v": "2026-01-01T00:00:00+00:00", "id": 12345, "b": False},
        {"o": "-timestamp", "v": 5, "id": "0b6f8c52-3c1e-4c0e-9a51-5f0f4c9a7e21", "b": False},
        ["not", "an", "object"],
    ],
)
def test_a_hand_made_cursor_is_a_400_naming_it(staff_api, make_records, raw):
    import base64
    import json

    make_records(3)
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    response = staff_api.get(LIST, {"cursor": forged})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"cursor": "Invalid cursor."}


def test_a_cursor_altered_after_signing_is_a_400(staff_api, make_records):
    make_records(3)
    from urllib.parse import unquote

    cursor = unquote(staff_api.get(LIST, {"page_size": 1}).json()["next"].split("cursor=")[1])
    assert staff_api.get(LIST, {"page_size": 1, "cursor": cursor}).status_code == 200
    payload, _, signature = cursor.rpartition(":")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + ":" + signature
    assert staff_api.get(LIST, {"page_size": 1, "cursor": tampered}).status_code == 400


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"])
def test_dates_outside_the_supported_years_are_a_400(staff_api, db, value):
    response = staff_api.get(LIST, {"created_before": value})
    assert response.status_code == 400 and "created_before" in response.json()["error"]["fields"]


def test_an_unknown_query_parameter_is_a_400_naming_it(staff_api, make_records):
    record, _ = make_records(2)
    response = staff_api.get(LIST, {"subjectid": "applicant-1", "risk_label": "low"})
    assert response.status_code == 400  # it used to be ignored: the client believed it had filtered
    assert response.json()["error"]["fields"] == {"subjectid": "Unknown parameter."}
    nearest = staff_api.get(f"/api/records/{record.pk}/nearest/", {"kk": 3})
    assert nearest.status_code == 400 and "kk" in nearest.json()["error"]["fields"]


def test_a_case_is_found_by_its_subject_id_request_id_or_record_id(staff_api, make_records):
    first, second, third = make_records(3)
    Record.objects.filter(pk=first.pk).update(subject_id="application-17")
    Record.objects.filter(pk=second.pk).update(request_id="los-req-99")
    by_subject = staff_api.get(LIST, {"subject_id": "application-17"})
    assert _ids(by_subject) == [str(first.pk)] and by_subject.json()["results"][0]["subject_id"] == "application-17"
    assert _ids(staff_api.get(LIST, {"find": "application-17"})) == [str(first.pk)]
    assert _ids(staff_api.get(LIST, {"find": "los-req-99"})) == [str(second.pk)]
    assert _ids(staff_api.get(LIST, {"find": str(third.pk)})) == [str(third.pk)]
    assert _ids(staff_api.get(LIST, {"find": "nothing-like-it"})) == []
    assert staff_api.get(f"{LIST}{first.pk}/").json()["subject_id"] == "application-17"


def test_the_prediction_answer_carries_the_subject_id(jwt_client, german_credit_row):
    body = {"model": "credit", "features": german_credit_row, "subject_id": "application-18"}
    response = jwt_client.post("/api/predict/", body, format="json")
    assert response.status_code == 201 and response.json()["subject_id"] == "application-18"

"""The predict API with a challenger: shadow results stored and never returned; canary by applicant."""

import pytest

from predictions.models import ChallengerFailure, Release
from predictions.selectors import canary_bucket, loaded_model_cache_clear
from records.models import Record, ShadowResult

PREDICT = "/api/predict/"


def _release(challenger, mode, percent=0.0):
    Release.objects.update_or_create(
        name="credit", defaults={"challenger": challenger, "mode": mode, "percent": percent}
    )
    loaded_model_cache_clear()


def test_a_shadow_result_is_stored_beside_the_record_and_never_returned(jwt_client, register, german_credit_row):
    challenger = register(shift=1.0)
    _release(challenger, "shadow")
    response = jwt_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["model_id"] == "credit@1" and body["served_by"] == "champion"
    assert challenger.model_id not in response.content.decode()
    assert Record.objects.count() == 1  # the shadow adds no record
    shadow = ShadowResult.objects.get()
    record = Record.objects.get()
    assert shadow.record_id == record.pk and shadow.model_version_id == challenger.pk
    assert shadow.risk_score > record.risk_score  # +1 on the log-odds
    assert len(shadow.drivers) == len(record.drivers)
    listed = jwt_client.get("/api/records/").json()["results"]
    assert [r["model_id"] for r in listed] == ["credit@1"]


def test_a_batch_in_shadow_stores_one_result_per_record(jwt_client, register, german_credit_row):
    _release(register(), "shadow")
    items = [{"features": german_credit_row}, {"features": {**german_credit_row, "duration_in_month": 40}}]
    response = jwt_client.post(PREDICT + "batch/", {"model": "credit", "items": items}, format="json")
    assert response.status_code == 201, response.content
    assert ShadowResult.objects.count() == Record.objects.count() == 2


def test_a_failing_shadow_never_fails_the_request(jwt_client, register, german_credit_row, monkeypatch):
    challenger = register()
    _release(challenger, "shadow")
    from predictions.selectors import loaded_model_get

    broken = loaded_model_get(model_id=challenger.model_id)
    monkeypatch.setattr(broken.scorer, "predict_encoded", lambda encoded, rows: 1 / 0)
    response = jwt_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 201
    assert not ShadowResult.objects.exists()
    assert ChallengerFailure.objects.get().mode == "shadow"


def _subject_in(challenger, canary: bool) -> str:
    for i in range(1000):
        subject = f"applicant-{i}"
        if (canary_bucket(name="credit", version=challenger.version, key=f"id:{subject}") < 50) == canary:
            return subject
    raise AssertionError("no subject found")


@pytest.mark.parametrize("canary", [True, False])
def test_the_canary_serves_its_applicants_and_says_why(jwt_client, register, german_credit_row, canary):
    challenger = register(shift=1.0)
    _release(challenger, "canary", 50.0)
    subject = _subject_in(challenger, canary)
    seen = set()
    for _ in range(3):  # the same applicant always meets the same version
        body = jwt_client.post(
            PREDICT, {"model": "credit", "features": german_credit_row, "subject_id": subject}, format="json"
        ).json()
        seen.add((body["model_id"], body["served_by"]))
    expected = (challenger.model_id, "canary") if canary else ("credit@1", "champion")
    assert seen == {expected}
    assert set(Record.objects.values_list("served_by", "subject_id")) == {(expected[1], subject)}


def test_a_failing_canary_sends_its_applicants_to_the_champion(jwt_client, register, german_credit_row, monkeypatch):
    challenger = register()
    _release(challenger, "canary", 100.0)
    from predictions.selectors import loaded_model_get

    monkeypatch.setattr(
        loaded_model_get(model_id=challenger.model_id).scorer, "predict_encoded", lambda encoded, rows: 1 / 0
    )
    body = jwt_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json").json()
    assert (body["model_id"], body["served_by"]) == ("credit@1", "champion")
    assert ChallengerFailure.objects.get().mode == "canary"


def test_a_pinned_version_is_served_as_asked(jwt_client, register, german_credit_row):
    challenger = register()
    _release(challenger, "canary", 100.0)
    body = jwt_client.post(PREDICT, {"model_id": "credit@1", "features": german_credit_row}, format="json").json()
    assert (body["model_id"], body["served_by"]) == ("credit@1", "pinned")


def test_a_bad_subject_id_is_a_400_naming_the_field(jwt_client, german_credit_row):
    response = jwt_client.post(
        PREDICT, {"model": "credit", "features": german_credit_row, "subject_id": "x" * 129}, format="json"
    )
    assert response.status_code == 400
    assert "subject_id" in response.json()["error"]["fields"]

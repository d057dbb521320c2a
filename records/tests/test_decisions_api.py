"""Decisions, reasons and protected attributes through POST /api/predict/ and the stored record."""

from __future__ import annotations

import numpy as np
import pytest

from records.models import Record

PREDICT = "/api/predict/"
BATCH = "/api/predict/batch/"
PROTECTED = ("personal_status_and_sex", "foreign_worker")


def _reason_codes(drivers, table):
    """The reasons recomputed from the response's own drivers and the model's reason table."""
    by_feature = {d["feature"]: d["contribution"] for d in drivers}
    totals = [(-sum(by_feature[f] for f in r["features"]), r["code"]) for r in table]
    return [code for total, code in sorted(totals) if total < 0][:4]


def test_a_declined_applicant_gets_the_top_four_risk_raising_reasons(jwt_client, declined_row):
    body = jwt_client.post(PREDICT, {"model": "credit", "features": declined_row}, format="json").json()
    table = jwt_client.get("/api/metadata/").json()["models"][0]["reason_table"]
    assert body["decision"] == "decline" and body["risk_score"] >= 0.6
    assert [r["code"] for r in body["reasons"]] == _reason_codes(body["drivers"], table)
    assert [r["code"] for r in body["reasons"]] == ["ASSETS", "CHECKING", "PURPOSE", "AMOUNT_TERM"]
    assert body["reasons"][0]["sentence"] == "Savings, bonds or property insufficient."
    assert not {f for r in body["reasons"] for f in r["features"]} & set(PROTECTED)
    record = Record.objects.get(pk=body["record_id"])
    assert record.decision == "decline" and record.reasons == body["reasons"]


def test_an_approved_applicant_gets_no_reasons(jwt_client, german_credit_row):
    body = jwt_client.post(PREDICT, {"model": "credit", "features": german_credit_row}, format="json").json()
    assert body["risk_score"] < 0.3
    assert body["decision"] == "approve" and body["reasons"] == []


def test_the_metadata_shows_the_policy_and_the_protected_attributes(api_client, api_user, demo_model):
    api_client.force_authenticate(api_user)
    [model] = api_client.get("/api/metadata/").json()["models"]
    assert model["decision_policy"] == {"refer_at": 0.3, "decline_at": 0.6}
    assert [s["name"] for s in model["protected_schema"]] == list(PROTECTED)
    assert not {s["name"] for s in model["feature_schema"]} & set(PROTECTED)
    assert sorted(f for r in model["reason_table"] for f in r["features"]) == sorted(
        s["name"] for s in model["feature_schema"]
    )


def test_a_protected_attribute_is_stored_and_changes_nothing_else(jwt_client, declined_row, german_credit_protected):
    plain = jwt_client.post(PREDICT, {"model": "credit", "features": declined_row}, format="json").json()
    others = {"personal_status_and_sex": "female : divorced/separated/married", "foreign_worker": False}
    answers = [
        jwt_client.post(
            PREDICT, {"model": "credit", "features": declined_row, "protected": given}, format="json"
        ).json()
        for given in (german_credit_protected, others)
    ]
    records = [Record.objects.get(pk=body["record_id"]) for body in (plain, *answers)]
    assert [r.protected for r in records] == [{}, german_credit_protected, others]
    for body, record in zip(answers, records[1:], strict=True):
        assert abs(body["risk_score"] - plain["risk_score"]) <= 1e-12
        assert body["drivers"] == plain["drivers"] and body["reasons"] == plain["reasons"]
        assert body["decision"] == plain["decision"]
        assert record.features_json == declined_row
        assert np.array_equal(np.asarray(record.embedding), np.asarray(records[0].embedding))
    detail = jwt_client.get(f"/api/records/{records[1].pk}/").json()
    assert detail["protected"] == german_credit_protected and detail["decision"] == "decline"


def test_a_protected_attribute_in_yes_no_words_is_read_as_a_boolean(jwt_client, german_credit_row):
    body = {"model": "credit", "features": german_credit_row, "protected": {"foreign_worker": "no"}}
    response = jwt_client.post(PREDICT, body, format="json")
    assert response.status_code == 201, response.content
    assert Record.objects.get(pk=response.json()["record_id"]).protected == {"foreign_worker": False}


@pytest.mark.parametrize(
    ("protected", "field", "message"),
    [
        ({"foreign_worker": "perhaps"}, "protected.foreign_worker", "Expected true or false"),
        ({"personal_status_and_sex": "unknown"}, "protected.personal_status_and_sex", "Unknown category"),
        ({"religion": "x"}, "protected.religion", "Not a protected attribute of this model."),
    ],
)
def test_it_rejects_a_bad_protected_attribute_and_stores_nothing(
    jwt_client, german_credit_row, protected, field, message
):
    response = jwt_client.post(
        PREDICT, {"model": "credit", "features": german_credit_row, "protected": protected}, format="json"
    )
    assert response.status_code == 400
    assert message in response.json()["error"]["fields"][field]
    assert not Record.objects.exists()


def test_a_protected_attribute_sent_as_a_feature_is_refused_with_the_way_to_send_it(jwt_client, german_credit_row):
    features = {**german_credit_row, "foreign_worker": True}
    response = jwt_client.post(PREDICT, {"model": "credit", "features": features}, format="json")
    assert response.status_code == 400
    assert "send it in 'protected'" in response.json()["error"]["fields"]["features.foreign_worker"]


def test_a_batch_names_the_item_whose_protected_attribute_is_bad(jwt_client, german_credit_row):
    items = [
        {"features": german_credit_row, "protected": {"foreign_worker": True}},
        {"features": german_credit_row, "protected": {"foreign_worker": "perhaps"}},
    ]
    response = jwt_client.post(BATCH, {"model": "credit", "items": items}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"items[1].protected.foreign_worker"}
    assert not Record.objects.exists()
    items[1]["protected"] = {"foreign_worker": False}
    results = jwt_client.post(BATCH, {"model": "credit", "items": items}, format="json").json()["results"]
    stored = [Record.objects.get(pk=r["record_id"]).protected for r in results]
    assert stored == [{"foreign_worker": True}, {"foreign_worker": False}]
    assert results[0]["risk_score"] == results[1]["risk_score"]


def test_the_records_list_filters_by_decision(jwt_client, german_credit_row, declined_row):
    for row in (german_credit_row, declined_row, declined_row):
        jwt_client.post(PREDICT, {"model": "credit", "features": row}, format="json")
    declined = jwt_client.get("/api/records/?decision=decline").json()["results"]
    assert len(declined) == 2 and {r["decision"] for r in declined} == {"decline"}
    both = jwt_client.get("/api/records/?decision=approve,decline").json()["results"]
    assert len(both) == 3
    bad = jwt_client.get("/api/records/?decision=maybe")
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"decision[0]": '"maybe" is not a valid choice.'}


def test_a_version_registered_before_decisions_decides_by_its_bands(jwt_client, demo_model, declined_row):
    from predictions.models import ModelVersion
    from predictions.selectors import loaded_model_cache_clear

    ModelVersion.objects.filter(pk=demo_model.pk).update(decision_policy={}, reason_table=[])
    loaded_model_cache_clear()
    body = jwt_client.post(PREDICT, {"model": "credit", "features": declined_row}, format="json").json()
    assert body["decision"] == "decline"  # its score is in the high band, from 0.6
    assert [r["features"] for r in body["reasons"]] == [[r["features"][0]] for r in body["reasons"]]
    assert body["reasons"][0]["code"] == "STATUS_OF_EXISTING_CHECKING_ACCO"  # the name, cut to 32
    assert body["reasons"][0]["sentence"].startswith("Balance of the applicant's current checking account (DM)")

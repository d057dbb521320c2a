"""A decision policy set at promotion: only for a version that has decided nothing yet, validated
again (the fairness gate judges decisions), all or nothing."""

from __future__ import annotations

import pytest

from predictions.models import ModelVersion

STRICT = {"refer_at": 0.02, "decline_at": 0.04}


def _promote(client, candidate, **body):
    return client.post(
        "/api/models/credit/release/promote/",
        {"model_id": candidate.model_id, "reason": "stricter", **body},
        content_type="application/json",
    )


def test_a_policy_given_at_promotion_is_validated_and_then_decides(register, client, admin_user, german_credit_row):
    candidate = register()
    client.force_login(admin_user)
    response = _promote(client, candidate, decision_policy=STRICT)
    assert response.status_code == 200, response.content
    candidate.refresh_from_db()
    assert candidate.status == "production" and candidate.decision_policy == STRICT
    assert candidate.validations.count() == 1  # validated with the new policy before it was promoted
    body = client.post(
        "/api/predict/", {"model": "credit", "features": german_credit_row}, content_type="application/json"
    ).json()
    assert body["model_id"] == candidate.model_id and body["risk_score"] >= 0.04 and body["decision"] == "decline"
    assert "decision policy" in client.get("/api/models/credit/release/").json()["events"][0]["reason"]


def test_a_refused_promotion_keeps_the_old_policy(register, client, admin_user):
    worse = register(scramble=True)  # its holdout AUC gate fails
    client.force_login(admin_user)
    response = _promote(client, worse, decision_policy=STRICT)
    assert response.status_code == 409 and "failed its gates" in response.json()["error"]["message"]
    worse.refresh_from_db()
    assert worse.status == "staging" and worse.decision_policy == {"refer_at": 0.3, "decline_at": 0.6}
    assert not worse.validations.exists()  # one transaction: nothing of the refused step is kept


def test_a_version_that_has_decided_cannot_change_its_policy(register, demo_model, embedder, german_credit_row):
    from predictions.selectors import loaded_model_get
    from records.prediction import prediction_create_one
    from releases.services import ReleaseError, release_promote

    candidate = register()
    prediction_create_one(model=loaded_model_get(model_id=candidate.model_id), features=german_credit_row)
    with pytest.raises(ReleaseError, match="has served records: its decision policy is fixed"):
        release_promote(
            model_version=candidate, reason="x", force=True, decision_policy={"refer_at": 0.2, "decline_at": 0.5}
        )
    candidate.refresh_from_db()
    assert candidate.status == "staging" and candidate.decision_policy == {"refer_at": 0.3, "decline_at": 0.6}


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"refer_at": 0.7, "decline_at": 0.5}, "decision_policy.refer_at"),
        ({"refer_at": 0.2}, "decision_policy.decline_at"),
    ],
)
def test_a_bad_policy_is_a_400_naming_it(register, client, admin_user, policy, field):
    candidate = register()
    client.force_login(admin_user)
    response = client.post(
        "/api/models/credit/release/promote/",
        {"model_id": candidate.model_id, "reason": "x", "force": True, "decision_policy": policy},
        content_type="application/json",
    )
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert ModelVersion.objects.get(pk=candidate.pk).status == "staging"


def test_the_command_takes_the_policy_and_says_so_in_one_line(register, capsys):
    from django.core.management import CommandError, call_command

    candidate = register()
    with pytest.raises(CommandError, match="give --refer-at and --decline-at together"):
        call_command("model_promote", candidate.model_id, "--reason", "x", "--force", "--refer-at", "0.2")
    call_command(
        "model_promote", candidate.model_id, "--reason", "x", "--force", "--refer-at", "0.2", "--decline-at", "0.5"
    )
    candidate.refresh_from_db()
    assert candidate.status == "production" and candidate.decision_policy == {"refer_at": 0.2, "decline_at": 0.5}

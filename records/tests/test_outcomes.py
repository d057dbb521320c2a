import pytest

from records.models import Record


def test_setting_an_outcome_is_idempotent_and_keeps_the_user(api_client, make_records, api_user):
    record = make_records(1, user=api_user)[0]
    api_client.force_authenticate(api_user)
    url = f"/api/records/{record.pk}/outcome/"
    first = api_client.post(url, {"outcome": True, "observed_at": "2027-01-15T12:00:00Z"}, format="json")
    assert first.status_code == 200
    assert first.json()["outcome"] is True and first.json()["outcome_set_by"] == api_user.username
    again = api_client.post(url, {"outcome": True}, format="json")
    assert again.json() == first.json()
    stored = Record.objects.get(pk=record.pk)
    assert stored.outcome is True and stored.outcome_observed_at is not None
    assert stored.outcome_observed_at.isoformat() == "2027-01-15T12:00:00+00:00"
    assert stored.outcome_set_by == api_user


def test_a_different_outcome_corrects_the_earlier_one(api_client, make_records, staff_user):
    record = make_records(1)[0]
    api_client.force_authenticate(staff_user)
    url = f"/api/records/{record.pk}/outcome/"
    api_client.post(url, {"outcome": True}, format="json")
    corrected = api_client.post(url, {"outcome": False}, format="json").json()
    assert corrected["outcome"] is False
    listed = api_client.get("/api/records/?has_outcome=true&outcome=false").json()["results"]
    assert [r["id"] for r in listed] == [str(record.pk)]


@pytest.mark.parametrize(
    "body",
    [{}, {"outcome": "perhaps"}, {"outcome": True, "observed_at": "soon"}, {"outcome": 0}, {"outcome": "true"}],
)
def test_a_bad_outcome_body_is_a_400(api_client, make_records, staff_user, body):
    record = make_records(1)[0]
    api_client.force_authenticate(staff_user)
    response = api_client.post(f"/api/records/{record.pk}/outcome/", body, format="json")
    assert response.status_code == 400
    if "outcome" in body:
        named = {"observed_at"} if body["outcome"] is True else {"outcome"}
        assert set(response.json()["error"]["fields"]) == named
    assert Record.objects.get(pk=record.pk).outcome is None

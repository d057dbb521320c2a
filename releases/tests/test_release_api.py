import pytest
from rest_framework.test import APIClient

from predictions.models import ModelVersion

BASE = "/api/models/credit/release/"


@pytest.fixture
def admin_api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def test_staff_read_the_state_only_superusers_change_it(jwt_client, register, staff_user):
    candidate = register()
    assert jwt_client.get(BASE).status_code == 403  # an API client: the timeline names people and reasons
    staff = APIClient()
    staff.force_authenticate(staff_user)
    state = staff.get(BASE).json()
    assert state["champion"] == "credit@1" and state["mode"] == "none" and state["events"] == []
    assert state["gates"]["auc_margin"] == -0.005
    response = staff.post(BASE + "validate/", {"model_id": candidate.model_id}, format="json")
    assert response.status_code == 403


def test_every_step_through_the_api(admin_api, register):
    candidate = register()
    validation = admin_api.post(BASE + "validate/", {"model_id": candidate.model_id}, format="json")
    assert validation.status_code == 201 and validation.json()["passed"] is True
    assert {g["gate"] for g in validation.json()["gates"]} >= {"auc_non_inferiority", "ece", "score_psi", "latency_p99"}
    state = admin_api.post(BASE + "shadow/", {"model_id": candidate.model_id, "reason": "watch"}, format="json").json()
    assert (state["mode"], state["challenger"]) == ("shadow", candidate.model_id)
    body = {"model_id": candidate.model_id, "reason": "go", "percent": 50}
    state = admin_api.post(BASE + "canary/", body, format="json").json()
    assert (state["mode"], state["percent"]) == ("canary", 50.0)
    state = admin_api.post(BASE + "abort/", {"reason": "stop"}, format="json").json()
    assert state["mode"] == "none"
    state = admin_api.post(BASE + "promote/", {"model_id": candidate.model_id, "reason": "ok"}, format="json").json()
    assert state["champion"] == candidate.model_id
    state = admin_api.post(BASE + "rollback/", {"reason": "back"}, format="json").json()
    assert state["champion"] == "credit@1"
    assert [e["action"] for e in state["events"]] == ["rollback", "promote", "abort", "canary", "shadow", "validate"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("shadow/", {"model_id": "credit@2"}, "reason"),
        ("canary/", {"model_id": "credit@2", "reason": "r", "percent": 0}, "percent"),
        ("validate/", {"model_id": "fraud@1"}, None),
        ("promote/", {"model_id": "credit@2", "reason": "r", "force": "maybe"}, "force"),
        ("promote/", {"model_id": "credit@2", "reason": "r", "force": 1}, "force"),  # the schema says boolean
        ("abort/", {"reason": "r", "extra": 1}, "extra"),
    ],
)
def test_bad_bodies_are_4xx_naming_the_field(admin_api, register, path, body, field):
    register()
    response = admin_api.post(BASE + path, body, format="json")
    assert 400 <= response.status_code < 500, response.content
    if field is not None:
        assert field in response.json()["error"]["fields"]


def test_a_version_of_another_name_is_refused(admin_api, register, german_credit_trained):
    from predictions.services import model_version_register

    register()
    other = model_version_register(trained=german_credit_trained, name="fraud")
    response = admin_api.post(BASE + "validate/", {"model_id": other.model_id}, format="json")
    assert response.status_code == 400 and "model_id" in response.json()["error"]["fields"]


def test_a_failed_promotion_is_a_409_until_forced(admin_api, register):
    weak = register(scramble=True)
    admin_api.post(BASE + "validate/", {"model_id": weak.model_id}, format="json")
    response = admin_api.post(BASE + "promote/", {"model_id": weak.model_id, "reason": "r"}, format="json")
    assert response.status_code == 409 and "failed its gates" in response.json()["error"]["message"]
    forced = admin_api.post(BASE + "promote/", {"model_id": weak.model_id, "reason": "r", "force": True}, format="json")
    assert forced.status_code == 200
    assert ModelVersion.objects.get(pk=weak.pk).status == "production"
    assert forced.json()["events"][0]["forced"] is True


def test_an_unknown_name_is_a_404(admin_api, demo_model):
    assert admin_api.get("/api/models/fraud/release/").status_code == 404

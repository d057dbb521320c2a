import pytest


def test_metadata_needs_a_client_unless_made_public(api_client, api_user, demo_model, settings):
    refused = api_client.get("/api/metadata/")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"
    settings.METADATA_PUBLIC = True
    assert api_client.get("/api/metadata/").status_code == 200


def test_metadata_describes_production_models_and_the_batch_maximum(api_client, api_user, demo_model):
    api_client.force_authenticate(api_user)
    response = api_client.get("/api/metadata/")
    assert response.status_code == 200
    assert response.json()["batch_max"] == 1000
    [model] = response.json()["models"]
    assert model["name"] == "credit" and model["model_id"] == "credit@1"
    assert len(model["feature_schema"]) == 18  # the 20 columns but the two protected ones
    assert model["label_bands"][1] == {"label": "medium", "min": 0.3}
    assert model["metrics"]["roc_auc"] >= 0.75
    assert "artifact" not in model


def test_models_require_authentication(api_client, demo_model):
    response = api_client.get("/api/models/")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] in ("not_authenticated", "permission_denied")


def test_models_list_every_version(api_client, demo_model, api_user, german_credit_trained):
    from predictions.services import model_version_register

    model_version_register(trained=german_credit_trained, name="credit")
    api_client.force_authenticate(api_user)
    versions = api_client.get("/api/models/").json()["results"]
    assert [(v["model_id"], v["status"]) for v in versions] == [("credit@1", "production")]  # a client: production
    assert len(api_client.get("/api/models/credit/").json()["versions"]) == 1
    api_user.is_staff = True
    api_user.save(update_fields=["is_staff"])
    versions = api_client.get("/api/models/").json()["results"]
    assert [(v["model_id"], v["status"]) for v in versions] == [("credit@2", "staging"), ("credit@1", "production")]
    detail = api_client.get("/api/models/credit/").json()
    assert detail["production"] == "credit@1" and len(detail["versions"]) == 2


@pytest.mark.django_db
def test_an_unknown_model_is_a_json_404(api_client, api_user):
    api_client.force_authenticate(api_user)
    response = api_client.get("/api/models/nope/")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "Model 'nope' does not exist."}


def test_a_version_registered_before_decisions_shows_what_it_decides_with(api_client, api_user, demo_model):
    """Its stored policy and reason table are empty: the label bands and the descriptions give them."""
    from predictions.models import ModelVersion

    api_client.force_authenticate(api_user)
    ModelVersion.objects.filter(pk=demo_model.pk).update(decision_policy={}, reason_table=[])
    [model] = api_client.get("/api/metadata/").json()["models"]
    assert model["decision_policy"] == {"refer_at": 0.3, "decline_at": 0.6}
    codes = [reason["code"] for reason in model["reason_table"]]
    assert len(codes) == len(model["feature_schema"]) and "CREDIT_AMOUNT" in codes

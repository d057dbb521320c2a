import pytest

from predictions.models import ModelVersion
from predictions.services import model_version_promote, model_version_register


@pytest.fixture
def two_versions(db, german_credit_trained):
    v1 = model_version_register(trained=german_credit_trained, name="credit")
    v2 = model_version_register(trained=german_credit_trained, name="credit")
    model_version_promote(model_version=v1)
    return v1, v2


def test_the_admin_offers_no_ungated_promotion(client, admin_user, two_versions):
    """Promotion is a release step (gates, a reason): not an admin action, even for superusers."""
    v1, v2 = two_versions
    client.force_login(admin_user)
    url = "/admin/predictions/modelversion/"
    page = client.get(url).content.decode()
    assert 'value="promote"' not in page and 'value="rollback"' not in page
    client.post(url, {"action": "promote", "_selected_action": [v2.pk], "index": 0}, follow=True)
    assert ModelVersion.objects.get(pk=v1.pk).status == "production"


def test_the_admin_lists_versions_without_the_artifact(client, admin_user, two_versions):
    client.force_login(admin_user)
    response = client.get(f"/admin/predictions/modelversion/{two_versions[0].pk}/change/")
    assert response.status_code == 200
    assert two_versions[0].artifact_sha256 in response.content.decode()

import pytest

from predictions.models import ModelVersion
from predictions.services import model_version_promote, model_version_register


@pytest.fixture
def two_versions(db, german_credit_trained):
    v1 = model_version_register(trained=german_credit_trained, name="credit")
    v2 = model_version_register(trained=german_credit_trained, name="credit")
    model_version_promote(model_version=v1)
    return v1, v2


def test_admins_promote_and_roll_back_from_the_admin(client, admin_user, two_versions):
    v1, v2 = two_versions
    client.force_login(admin_user)
    url = "/admin/predictions/modelversion/"
    response = client.post(url, {"action": "promote", "_selected_action": [v2.pk], "index": 0}, follow=True)
    assert response.status_code == 200
    assert "Promoted credit@2 to production." in response.content.decode()
    assert ModelVersion.objects.get(pk=v2.pk).status == "production"
    response = client.post(url, {"action": "rollback", "_selected_action": [v2.pk], "index": 0}, follow=True)
    assert "Rolled back to credit@1." in response.content.decode()
    assert ModelVersion.objects.get(pk=v1.pk).status == "production"


def test_the_admin_lists_versions_without_the_artifact(client, admin_user, two_versions):
    client.force_login(admin_user)
    response = client.get(f"/admin/predictions/modelversion/{two_versions[0].pk}/change/")
    assert response.status_code == 200
    assert two_versions[0].artifact_sha256 in response.content.decode()


def test_staff_with_change_permission_cannot_promote_through_the_admin(client, staff_user, two_versions):
    """The web page needs a superuser to promote; the admin holds the same line."""
    from django.contrib.auth.models import Permission

    v1, v2 = two_versions
    staff_user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_modelversion", "change_modelversion"])
    )
    client.force_login(staff_user)
    url = "/admin/predictions/modelversion/"
    page = client.get(url).content.decode()
    assert 'value="promote"' not in page and 'value="rollback"' not in page
    client.post(url, {"action": "promote", "_selected_action": [v2.pk], "index": 0}, follow=True)
    assert ModelVersion.objects.get(pk=v1.pk).status == "production"
    assert ModelVersion.objects.get(pk=v2.pk).status != "production"

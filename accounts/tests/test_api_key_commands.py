import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey
from accounts.services import api_key_authenticate


@pytest.mark.django_db
def test_create_api_key_prints_the_key_once_and_stores_its_hash(capsys):
    call_command("create_api_key", "billing")
    out, err = capsys.readouterr()
    key = out.strip()
    stored = ApiKey.objects.get(name="billing")
    assert "cannot be shown again" in err
    assert key.startswith("rk_") and key not in stored.key_sha256
    assert api_key_authenticate(key=key) == stored
    assert api_key_authenticate(key=key + "x") is None
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_api_key", "billing")


@pytest.mark.django_db
def test_revoke_api_key_makes_the_key_useless(capsys):
    call_command("create_api_key", "crm")
    key = capsys.readouterr().out.strip()
    call_command("revoke_api_key", "crm")
    assert api_key_authenticate(key=key) is None
    assert ApiKey.objects.get(name="crm").revoked_at is not None


@pytest.mark.django_db
def test_admins_create_keys_in_the_admin_and_see_them_once(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/accounts/apikey/add/", {"name": "from-admin"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    stored = ApiKey.objects.get(name="from-admin")
    assert f"rk_{stored.prefix}_" in html and "shown once" in html


@pytest.mark.django_db
def test_bad_api_key_command_input_is_a_clean_error():
    with pytest.raises(CommandError, match="1 to 100 characters"):
        call_command("create_api_key", "   ")
    with pytest.raises(CommandError, match="no API key named"):
        call_command("revoke_api_key", "nobody")
    assert not ApiKey.objects.exists()

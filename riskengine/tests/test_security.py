import pytest

from conftest import PASSWORD


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client, staff_user):
    client.force_login(staff_user)
    policy = client.get("/")["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


@pytest.mark.django_db
def test_frames_are_denied_and_the_csrf_token_rides_in_hx_headers(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert 'hx-headers=\'{"X-CSRFToken": "' in response.content.decode()


def test_htmx_posts_without_the_csrf_token_are_refused(staff_user, demo_model):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_user)
    assert strict.post("/", {"model": "credit"}, HTTP_HX_REQUEST="true").status_code == 403
    page = strict.get("/").content.decode()
    token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    response = strict.post("/", {"model": "credit"}, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
@pytest.mark.django_db
def test_failed_logins_are_throttled(client, staff_user, settings):
    settings.LOGIN_ATTEMPTS_PER_15_MIN = 3
    for _ in range(3):
        assert client.post("/accounts/login/", {"username": "staff", "password": "wrong"}).status_code == 200
    blocked = client.post("/accounts/login/", {"username": "staff", "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.content.decode()
    assert int(blocked["Retry-After"]) > 0
    # another username from the same address is not affected
    assert client.post("/accounts/login/", {"username": "other", "password": "x"}).status_code == 200


@pytest.mark.django_db
def test_the_admin_login_is_throttled_too(client, admin_user, settings):
    settings.LOGIN_ATTEMPTS_PER_15_MIN = 1
    client.post("/admin/login/", {"username": "admin", "password": "wrong"})
    assert client.post("/admin/login/", {"username": "admin", "password": PASSWORD}).status_code == 429


METRICS_TOKEN = "m" * 40


def test_metrics_count_predictions_and_embedding_time(client, jwt_client, german_credit_row, settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    assert (
        jwt_client.post("/api/predict/", {"model": "credit", "features": german_credit_row}, format="json").status_code
        == 201
    )
    metrics = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").content.decode()
    assert 'riskengine_predictions_total{label="' in metrics and 'model_id="credit@1"' in metrics
    assert 'riskengine_embedding_seconds_count{embedder="tabular"}' in metrics  # the default embedder
    assert "django_http_requests_latency_seconds_by_view_method" in metrics


def test_a_database_outage_is_a_json_503_with_retry_after(jwt_client, german_credit_row, monkeypatch):
    from django.db import OperationalError

    from records import apis
    from records.models import Record

    def unavailable(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(apis, "prediction_create_one", unavailable)
    response = jwt_client.post("/api/predict/", {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
    assert Record.objects.count() == 0


@pytest.mark.django_db
def test_metrics_are_a_404_without_the_token_or_an_allowed_address(client, settings):
    import ipaddress

    settings.METRICS_TOKEN = METRICS_TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 200
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404  # no token configured: nobody by token
    settings.METRICS_ALLOWED_IPS = (ipaddress.ip_network("10.9.0.0/16"),)
    assert client.get("/metrics", REMOTE_ADDR="10.9.3.4").status_code == 200
    # a client-supplied X-Forwarded-For is not believed without TRUSTED_PROXIES
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="10.9.3.4").status_code == 404


@pytest.mark.django_db
def test_a_non_staff_user_is_told_at_login_instead_of_looping(client, api_user):
    response = client.post("/accounts/login/", {"username": api_user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert "no access to the web pages" in response.content.decode()
    # a non-staff session from elsewhere (the admin, say) gets a 403, not a redirect to the login page
    client.force_login(api_user)
    assert client.get("/").status_code == 403

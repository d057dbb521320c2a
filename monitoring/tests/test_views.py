"""The monitoring pages: one URL for page and fragment, pickers, heatmap cells, alerts, webhooks."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import numpy as np
import pytest
from django.test import Client

from conftest import PASSWORD
from monitoring.models import Alert, AlertRule, Webhook, WebhookChange
from monitoring.services.alerts import alert_rules_ensure, alerts_evaluate
from monitoring.services.fold import monitoring_fold
from monitoring.tests.conftest import START, store

pytestmark = pytest.mark.django_db(transaction=True)

LAST_DAY = (START + timedelta(days=9)).date()


@pytest.fixture
def staff(staff_user):
    client = Client()
    assert client.login(username=staff_user.username, password=PASSWORD)
    return client


@pytest.fixture
def history(demo_model, rows):
    rng = np.random.default_rng(4)
    outcomes = [bool(rng.random() < 0.3) for _ in range(700)]
    store(rows[:700], days=rng.integers(0, 10, 700), outcomes=outcomes, rng=rng)
    monitoring_fold()
    return demo_model


def _page(staff, target=None, **query):
    headers = {"HX-Request": "true", "HX-Target": target} if target else {}
    return staff.get("/monitoring/credit/", {"days": 30, "end": LAST_DAY, **query}, headers=headers)


def test_the_overview_lists_each_production_model_with_status_and_alerts(staff, history):
    alert_rules_ensure(model_version=history)
    AlertRule.objects.filter(metric="feature_psi").update(warning=0.0, critical=0.0)
    alerts_evaluate(today=LAST_DAY)
    page = staff.get("/monitoring/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "credit@1" in html and 'href="/monitoring/credit/"' in html
    assert Alert.objects.get(rule__metric="feature_psi").message in html


def test_the_model_page_draws_every_chart_and_links_to_the_records(staff, history):
    page = _page(staff)
    assert page.status_code == 200
    html = page.content.decode()
    rows = len(history.reference_profile["features"]) + 2
    assert html.count('class="heat-cell"') == rows * 30
    for label in (
        "Drift heatmap",
        "Score distribution",
        "Change in mean SHAP",
        "Realised ROC AUC",
        "Reliability diagram",
    ):
        assert label in html
    assert "/records/?model=credit&amp;created_after=" in html
    assert "The average risk" in html


def test_a_heatmap_cell_swaps_only_its_fragment(staff, history):
    day = (START + timedelta(days=3)).date()
    fragment = _page(staff, feature=0, day=day, target="cell")
    html = fragment.content.decode()
    assert fragment.status_code == 200 and html.lstrip().startswith('<figure id="cell"')
    name = history.reference_profile["features"][0]["name"]
    assert f"{name}, {day:%b} {day.day}" in html
    assert f"created_after={day}&amp;created_before={day}" in html
    # The same URL without htmx is the whole page, with that cell picked.
    assert "<html" in _page(staff, feature=0, day=day).content.decode()


def test_the_pickers_swap_the_content_and_a_segment_narrows_it(staff, history):
    fragment = _page(staff, segment="housing=rent", target="content")
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="content"') and "housing = rent" in html
    assert "segment_feature=housing&amp;segment_value=rent" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"segment": "housing=castle"}, "training had no such rows"),
        ({"segment": "credit_amount=5"}, "not a category or boolean feature"),
        ({"segment": "nonsense"}, "feature=value"),
        ({"days": "12"}, "Select a valid choice"),
        ({"end": "not-a-date"}, "Enter a valid date"),
        ({"end": "0001-01-01"}, "1900 to 2999"),
    ],
)
def test_bad_picks_are_explained_on_the_page(staff, history, query, message):
    page = _page(staff, **query)
    assert page.status_code == 200 and message in page.content.decode()


def test_staff_only_and_unknown_models_are_404(client, api_user, staff, history):
    assert client.get("/monitoring/").status_code == 302
    other = Client()
    other.login(username=api_user.username, password=PASSWORD)
    assert other.get("/monitoring/credit/").status_code == 403
    assert staff.get("/monitoring/fraud/").status_code == 404


def test_acknowledge_and_resolve_from_the_page(staff, staff_user, history):
    alert_rules_ensure(model_version=history)
    AlertRule.objects.filter(metric="feature_psi").update(warning=0.0, critical=0.0)
    alerts_evaluate(today=LAST_DAY)
    alert = Alert.objects.get(rule__metric="feature_psi")
    fragment = staff.post(f"/monitoring/alerts/{alert.pk}/acknowledge/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and fragment.content.decode().lstrip().startswith('<section id="alerts"')
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by == staff_user
    assert staff.post(f"/monitoring/alerts/{alert.pk}/resolve/").status_code == 302
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by == staff_user
    again = staff.post(f"/monitoring/alerts/{alert.pk}/resolve/", follow=True)
    assert "already resolved" in again.content.decode()
    assert staff.post("/monitoring/alerts/99999/resolve/").status_code == 404


PUBLIC = [ipaddress.ip_address("93.184.215.14")]  # what hooks.example.com resolves to, for these tests


def _dns(host, port):
    return [ipaddress.ip_address(host)] if host[0].isdigit() else PUBLIC


def test_only_risk_managers_see_and_manage_webhooks(staff, client, risk_manager, monkeypatch):
    monkeypatch.setattr("monitoring.webhooks._getaddrinfo", _dns)
    webhook = Webhook.objects.create(url="https://hooks.example.com/risk/t0ken", secret="s" * 43)
    assert staff.get("/monitoring/webhooks/").status_code == 403  # staff, but not a risk manager
    assert staff.post("/monitoring/webhooks/", {"url": "https://hooks.example.com/x"}).status_code == 403
    assert staff.post(f"/monitoring/webhooks/{webhook.pk}/toggle/").status_code == 403
    assert staff.post(f"/monitoring/webhooks/{webhook.pk}/delete/").status_code == 403
    client.force_login(risk_manager)
    page = client.get("/monitoring/webhooks/").content.decode()
    assert "s" * 43 not in page and "t0ken" not in page and "https://hooks.example.com/…" in page


def test_a_risk_manager_adds_disables_and_deletes_webhooks_with_an_audit_trail(client, risk_manager, monkeypatch):
    monkeypatch.setattr("monitoring.webhooks._getaddrinfo", _dns)
    client.force_login(risk_manager)
    bad = client.post("/monitoring/webhooks/", {"url": "ftp://example.com/hook"})
    assert bad.status_code == 400 and "must be an https:// URL" in bad.content.decode()
    internal = client.post("/monitoring/webhooks/", {"url": "https://127.0.0.1/hook"})
    assert internal.status_code == 400 and "not a public address" in internal.content.decode()
    assert not Webhook.objects.exists()
    added = client.post("/monitoring/webhooks/", {"url": "https://hooks.example.com/risk"})
    webhook = Webhook.objects.get()
    assert webhook.created_by == risk_manager and len(webhook.secret) >= 32
    assert webhook.secret in added.content.decode()  # shown once, in the answer to its creation
    assert webhook.secret not in client.get("/monitoring/webhooks/").content.decode()  # and never again
    client.post(f"/monitoring/webhooks/{webhook.pk}/toggle/")
    webhook.refresh_from_db()
    assert not webhook.enabled
    assert client.post(f"/monitoring/webhooks/{webhook.pk}/delete/").status_code == 302
    assert not Webhook.objects.exists()
    trail = list(WebhookChange.objects.order_by("at", "id").values_list("username", "action", "webhook_url"))
    assert trail == [
        ("risk-manager", action, "https://hooks.example.com/…") for action in ("created", "disabled", "deleted")
    ]
    assert "deleted" in client.get("/monitoring/webhooks/").content.decode()
    assert client.post("/monitoring/webhooks/9999/toggle/").status_code == 404

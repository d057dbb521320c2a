"""The monitoring pages in a real Chromium: no console errors, no CSP violations, htmx swaps."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import numpy as np
import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from monitoring.models import AlertRule
from monitoring.services.alerts import alert_rules_ensure, alerts_evaluate
from monitoring.services.fold import monitoring_fold
from monitoring.tests.conftest import START, store

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_console_errors"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

LAST_DAY = (START + timedelta(days=13)).date()


@pytest.fixture
def monitored(page, live_server, staff_user, demo_model, rows):
    """Two weeks of traffic (the second with larger, longer loans), outcomes, and open alerts."""
    rng = np.random.default_rng(7)
    for day in range(14):
        pick = [dict(rows[i]) for i in rng.integers(0, len(rows), 60)]
        for row in pick if day >= 7 else []:
            row["credit_amount"] *= 3
        outcomes = [bool(rng.random() < 0.3) for _ in pick]
        groups = [{"foreign_worker": bool(rng.random() < 0.5)} for _ in pick]
        store(pick, days=[day] * len(pick), outcomes=outcomes, rng=rng, protected=groups)
    monitoring_fold()
    alert_rules_ensure(model_version=demo_model)
    AlertRule.objects.update(min_records=100)
    alerts_evaluate(today=LAST_DAY)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(staff_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    return page


def test_the_overview_shows_status_and_acknowledges_an_alert(monitored, live_server, shot):
    page = monitored
    page.get_by_role("link", name="Monitoring").click()
    page.wait_for_url(f"{live_server.url}/monitoring/")
    expect(page.locator("#models-table .model-row")).to_have_count(1)
    rows = page.locator("#alerts .alert-row")
    assert rows.count() >= 1
    shot(page, "monitoring-overview")
    before = page.get_by_role("button", name="Acknowledge").count()
    page.get_by_role("button", name="Acknowledge").first.click()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(before - 1)
    expect(page.locator("#alerts")).to_contain_text("acknowledged by staff")


def test_the_model_page_swaps_a_cell_and_the_segment(monitored, live_server, shot):
    page = monitored
    page.goto(f"{live_server.url}/monitoring/credit/?days=30&end={LAST_DAY}")
    expect(page.locator("#heatmap .heat-cell").first).to_be_visible()
    expect(page.locator("#attribution-sentence")).to_contain_text("The average risk rose")
    shot(page, "monitoring-model")
    fairness = page.locator("#fairness .fairness-attribute").filter(has_text="foreign_worker")
    expect(fairness.locator("tbody tr")).to_have_count(2)  # its two groups, true and false
    expect(fairness.locator(".air-value")).to_have_count(1)
    fairness.scroll_into_view_if_needed()
    shot(page, "monitoring-fairness")
    cells = page.locator("#heatmap .heat-cell")
    names = [row.get_attribute("data-name") for row in page.locator("#heatmap .heat-row").all()]
    credit = names.index("credit_amount")
    days = cells.count() // len(names)  # cells per feature row (every day)
    cells.nth(credit * days + days - 1).click()  # credit_amount on the last day
    expect(page.locator("#cell figcaption")).to_contain_text(f"credit_amount, {LAST_DAY:%b} {LAST_DAY.day}")
    assert page.url.endswith("/monitoring/credit/?days=30&end=" + str(LAST_DAY))  # the cell does not push a URL
    page.locator("#pick-segment").select_option(label=page.locator("#pick-segment option").nth(1).inner_text())
    expect(page.locator("#content")).to_contain_text("Records in ")
    assert "segment=" in page.url
    shot(page, "monitoring-model-segment")
    page.locator("#cell").get_by_role("link", name="The records behind this").click()
    page.wait_for_url(f"{live_server.url}/records/**")
    expect(page.locator("#segment-filter")).to_be_visible()
    assert page.locator("#records-table .record-row").count() >= 1


def test_a_risk_manager_adds_a_webhook_and_sees_its_secret_once(page, live_server, risk_manager, shot, monkeypatch):
    import ipaddress

    monkeypatch.setattr("monitoring.webhooks._getaddrinfo", lambda host, port: [ipaddress.ip_address("93.184.215.14")])
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(risk_manager.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/monitoring/webhooks/")
    page.get_by_label("Webhook URL").fill("https://hooks.example.com/risk/t0ken")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator("#new-secret [data-secret]")).to_have_text(re.compile(r"^\S{40,}$"))
    expect(page.locator("#webhooks-table")).to_contain_text("https://hooks.example.com/…")
    expect(page.locator("#webhook-changes")).to_contain_text("created")
    shot(page, "monitoring-webhooks-created")
    page.goto(f"{live_server.url}/monitoring/webhooks/")
    expect(page.locator("#new-secret")).to_have_count(0)  # shown once
    expect(page.locator("body")).not_to_contain_text("t0ken")

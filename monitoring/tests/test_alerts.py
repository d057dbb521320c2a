"""Alerts: rules judged over consecutive windows, stored with who and when, delivered to a webhook
(a local HTTP server here) with a valid signature, retried with backoff, quiet in the cooldown."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from django.core.management import call_command

from core.errors import ApplicationError
from monitoring.models import Alert, AlertRule, Delivery, DeliveryAttempt
from monitoring.services.alerts import (
    alert_acknowledge,
    alert_resolve,
    alert_rules_ensure,
    alerts_evaluate,
    webhook_create,
    webhook_deliveries_send,
    webhook_toggle,
)
from monitoring.services.fold import monitoring_fold
from monitoring.tests.conftest import START, store
from monitoring.tests.test_webhooks import Listener
from monitoring.webhooks import SIGNATURE_HEADER

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = (START + timedelta(days=13)).date()  # the stream's last day
NOW = START + timedelta(days=13, hours=23)


@pytest.fixture(autouse=True)
def _local_webhooks(settings):
    """These endpoints listen on 127.0.0.1 (test_webhooks.py tests the refusal of such targets), and
    deliveries go out one at a time in the test's own transaction."""
    settings.WEBHOOK_ALLOW_LOCAL = True
    settings.WEBHOOK_CONCURRENCY = 1


class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers ``statuses`` in turn (then 200)."""

    def __init__(self, statuses=()):
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/risk"


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.server.shutdown()


def _stream(rows, rng, *, days, per_day, shift_from=None, first_day=0):
    for day in range(first_day, first_day + days):
        pick = [dict(rows[i]) for i in rng.integers(0, len(rows), per_day)]
        if shift_from is not None and day >= shift_from:
            for row in pick:
                row["credit_amount"] *= 3
                row["duration_in_month"] = min(72, row["duration_in_month"] * 2)
        store(pick, days=[day] * per_day, rng=rng)
    monitoring_fold()


@pytest.fixture
def shifted(demo_model, rows):
    """14 days of traffic, the last 7 with a shift (critical feature PSI in the last week)."""
    _stream(rows, np.random.default_rng(3), days=14, per_day=80, shift_from=7)
    alert_rules_ensure(model_version=demo_model)
    return demo_model


def _verify(secret, headers, body):
    fields = dict(part.split("=", 1) for part in headers[SIGNATURE_HEADER].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(fields["v1"], expected)


def test_a_breach_opens_an_alert_and_delivers_a_signed_webhook(shifted, receiver, risk_manager):
    endpoint = receiver()
    webhook = webhook_create(url=endpoint.url, user=risk_manager)
    summary = alerts_evaluate(today=TODAY, now=NOW)
    assert summary.opened >= 1
    alert = Alert.objects.get(rule__metric="feature_psi")
    assert alert.severity == "critical" and alert.status == "open" and alert.value >= 0.25
    assert (alert.window_start, alert.window_end) == (TODAY - timedelta(days=6), TODAY + timedelta(days=1))
    assert webhook_deliveries_send(now=NOW) == (summary.opened, 0)
    bodies = [json.loads(body) for _, body in endpoint.requests]
    assert {b["alert"]["metric"] for b in bodies} >= {"feature_psi"}
    headers, body = next((h, b) for h, b in endpoint.requests if json.loads(b)["alert"]["id"] == alert.pk)
    assert _verify(webhook.secret, headers, body)
    assert not _verify("another-secret", headers, body)
    assert json.loads(body)["event"] == "alert.opened" and json.loads(body)["alert"]["model_id"] == "credit@1"
    log = DeliveryAttempt.objects.get(delivery__alert=alert)
    assert log.status_code == 200 and log.error == "" and log.delivery.status == "delivered"
    # A second evaluation of the same breach changes nothing and sends nothing.
    assert alerts_evaluate(today=TODAY, now=NOW + timedelta(minutes=1)).opened == 0
    assert webhook_deliveries_send(now=NOW + timedelta(minutes=1)) == (0, 0)


def test_a_failed_delivery_is_retried_with_backoff_then_delivered(shifted, receiver, risk_manager, settings):
    settings.WEBHOOK_RETRY_SECONDS = 30
    endpoint = receiver(statuses=[500, 503])
    webhook_create(url=endpoint.url, user=risk_manager)
    AlertRule.objects.filter(model_name="credit").exclude(metric="feature_psi").update(enabled=False)
    alerts_evaluate(today=TODAY, now=NOW)
    assert webhook_deliveries_send(now=NOW) == (0, 1)
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and delivery.next_attempt_at == NOW + timedelta(seconds=30)
    assert webhook_deliveries_send(now=NOW + timedelta(seconds=29)) == (0, 0)  # not due yet
    assert webhook_deliveries_send(now=NOW + timedelta(seconds=30)) == (0, 1)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == NOW + timedelta(seconds=30 + 60)  # the delay doubled
    assert webhook_deliveries_send(now=NOW + timedelta(seconds=90)) == (1, 0)
    codes = list(delivery.log.order_by("id").values_list("status_code", flat=True))
    assert codes == [500, 503, 200] and len(endpoint.requests) == 3
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3


def test_an_unreachable_webhook_fails_after_the_last_attempt_with_the_reason(shifted, settings, risk_manager):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    webhook_create(url="http://127.0.0.1:9/unreachable", user=risk_manager)
    AlertRule.objects.filter(model_name="credit").exclude(metric="feature_psi").update(enabled=False)
    alerts_evaluate(today=TODAY, now=NOW)
    webhook_deliveries_send(now=NOW)
    webhook_deliveries_send(now=NOW + timedelta(hours=1))
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 2
    assert all("Connection" in a.error or "refused" in a.error for a in delivery.log.all())


def test_no_delivery_during_the_cooldown(shifted, receiver, risk_manager):
    endpoint = receiver()
    webhook_create(url=endpoint.url, user=risk_manager)
    AlertRule.objects.filter(model_name="credit").exclude(metric="feature_psi").update(enabled=False)
    alerts_evaluate(today=TODAY, now=NOW)
    first = Alert.objects.get()
    alert_resolve(alert=first, user=risk_manager)  # resolved by hand, but the shift is still there
    summary = alerts_evaluate(today=TODAY, now=NOW + timedelta(hours=2))
    assert summary.opened == 0 and summary.cooling_down == 1
    webhook_deliveries_send(now=NOW + timedelta(hours=2))
    assert len(endpoint.requests) == 1
    after = alerts_evaluate(today=TODAY, now=NOW + timedelta(hours=25))  # the 24 h cooldown is over
    assert after.opened == 1 and Alert.objects.count() == 2
    webhook_deliveries_send(now=NOW + timedelta(hours=25))
    assert len(endpoint.requests) == 2


def test_consecutive_windows_must_all_breach(shifted):
    AlertRule.objects.all().delete()
    alerts_evaluate(today=TODAY, now=NOW)  # creates the default rules
    Alert.objects.all().delete()
    rules = AlertRule.objects.exclude(metric="feature_psi")
    rules.update(enabled=False)
    # Window 8 back ([day -1, day 6)) has no shift (and too few records): nothing fires.
    AlertRule.objects.filter(metric="feature_psi").update(consecutive=9, last_fired_at=None)
    assert alerts_evaluate(today=TODAY, now=NOW).opened == 0
    AlertRule.objects.filter(metric="feature_psi").update(consecutive=3)
    assert alerts_evaluate(today=TODAY, now=NOW).opened == 1


def test_staff_acknowledge_and_a_recovered_metric_resolves(shifted, rows, staff_user):
    AlertRule.objects.all().delete()
    alerts_evaluate(today=TODAY, now=NOW)
    alert = Alert.objects.get(rule__metric="feature_psi")
    alert_acknowledge(alert=alert, user=staff_user)
    assert alert.status == "acknowledged" and alert.acknowledged_by == staff_user and alert.acknowledged_at
    with pytest.raises(ApplicationError, match="not open"):
        alert_acknowledge(alert=alert, user=staff_user)
    # A day with too few records is no evidence: the alert stays.
    alerts_evaluate(today=TODAY + timedelta(days=1), now=NOW + timedelta(days=1))
    alert.refresh_from_db()
    assert alert.status == "acknowledged"
    # Then a week of unshifted traffic: the metric recovered, the alert resolves by itself.
    _stream(rows, np.random.default_rng(8), days=7, per_day=80, first_day=14)
    alerts_evaluate(today=TODAY + timedelta(days=7), now=NOW + timedelta(days=7))
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by is None and alert.resolved_at
    with pytest.raises(ApplicationError, match="already resolved"):
        alert_resolve(alert=alert, user=staff_user)


def test_webhooks_must_be_http_urls(risk_manager):
    for url in ("ftp://example.com/x", "javascript:alert(1)", "http://", "not a url"):
        with pytest.raises(ApplicationError, match=r"https|no host"):
            webhook_create(url=url, user=risk_manager)


def test_the_scheduler_runs_the_fold_the_rules_and_the_deliveries(shifted, capsys):
    call_command("monitoring_scheduler", every=0)
    out = capsys.readouterr().out
    assert out.startswith("folded 0 records") and "alerts opened" in out and "webhooks delivered 0" in out
    assert AlertRule.objects.filter(model_name="credit").count() == 8  # 5 drift and performance, 3 fairness


def test_a_failing_scheduler_step_is_logged_and_the_scheduler_ends_cleanly(demo_model, monkeypatch, caplog):
    def broken():
        raise RuntimeError("database went away")

    monkeypatch.setattr("releases.management.commands.monitoring_scheduler.monitoring_fold", broken)
    call_command("monitoring_scheduler", every=0)  # returns: no traceback escapes the loop
    assert "monitoring scheduler tick failed" in caplog.text and "database went away" in caplog.text
    assert not Alert.objects.exists()


def garbage(connection):
    """Bytes that are not HTTP (what a mistyped http:// to a TLS port gets, too)."""
    connection.sendall(b"\x15\x03\x01\x00\x02\x02\x50 not http at all\r\n\r\n")


def test_an_endpoint_that_answers_garbage_fails_its_attempt_and_no_other(shifted, receiver, risk_manager):
    garbage_endpoint = Listener(garbage)
    good = receiver()
    webhook_create(url=garbage_endpoint.url, user=risk_manager)
    webhook_create(url=good.url, user=risk_manager)
    AlertRule.objects.filter(model_name="credit").exclude(metric="feature_psi").update(enabled=False)
    alerts_evaluate(today=TODAY, now=NOW)
    delivered, failed = webhook_deliveries_send(now=NOW)  # used to raise BadStatusLine on every tick
    assert (delivered, failed) == (1, 1) and len(good.requests) == 1
    [attempt] = DeliveryAttempt.objects.filter(delivery__webhook__url=garbage_endpoint.url)
    assert attempt.status_code is None and attempt.error
    garbage_endpoint.close()


def test_disabling_a_webhook_cancels_what_it_had_queued(shifted, receiver, risk_manager):
    endpoint = receiver()
    webhook = webhook_create(url=endpoint.url, user=risk_manager)
    AlertRule.objects.filter(model_name="credit").exclude(metric="feature_psi").update(enabled=False)
    alerts_evaluate(today=TODAY, now=NOW)
    assert Delivery.objects.get().status == "pending"
    webhook_toggle(webhook_id=webhook.pk, user=risk_manager)
    assert webhook_deliveries_send(now=NOW) == (0, 0) and endpoint.requests == []
    assert Delivery.objects.get().status == "cancelled"

"""Webhooks that cannot be aimed inside or jam the scheduler: public https targets only (checked at
configuration and on the address each delivery connects to), no redirects, a wall-clock deadline,
slow endpoints sent to side by side, and the scheduler's tick never waiting for them."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Alert, AlertRule, Delivery, DeliveryAttempt, Webhook
from monitoring.services.alerts import webhook_create, webhook_deliveries_send
from monitoring.webhooks import WebhookTargetError, webhook_post

PUBLIC = [ipaddress.ip_address("93.184.215.14")]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook", "https://0.0.0.0/hook",
        "https://169.254.169.254/latest/meta-data/", "https://10.1.2.3/hook", "https://192.168.0.10/hook",
        "https://224.0.0.1/hook", "https://[::ffff:127.0.0.1]/hook", "https://[fe80::1]/hook",
    ],
)  # fmt: skip
def test_it_refuses_targets_that_are_not_public(url, risk_manager):
    with pytest.raises(WebhookTargetError, match="not a public address"):
        webhook_create(url=url, user=risk_manager)
    assert not Webhook.objects.exists()


def test_link_local_and_unspecified_stay_refused_even_for_local_use(risk_manager, settings):
    settings.WEBHOOK_ALLOW_LOCAL = True
    for url in ("http://169.254.169.254/latest/", "http://0.0.0.0:8000/", "http://[fe80::1]/"):
        with pytest.raises(WebhookTargetError, match="not a public address"):
            webhook_create(url=url, user=risk_manager)
    assert webhook_create(url="http://127.0.0.1:9/hook", user=risk_manager).pk  # loopback is, for local use


def test_it_refuses_plain_http_credentials_and_names_that_do_not_resolve(risk_manager, monkeypatch):
    monkeypatch.setattr("monitoring.webhooks._getaddrinfo", lambda host, port: PUBLIC)
    with pytest.raises(WebhookTargetError, match="must be an https:// URL"):
        webhook_create(url="http://hooks.example.com/risk", user=risk_manager)
    with pytest.raises(WebhookTargetError, match="Credentials do not belong in the URL"):
        webhook_create(url="https://user:pass@hooks.example.com/risk", user=risk_manager)

    def nxdomain(host, port):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr("monitoring.webhooks._getaddrinfo", nxdomain)
    with pytest.raises(WebhookTargetError, match="does not resolve"):
        webhook_create(url="https://nowhere.example/risk", user=risk_manager)


def test_only_risk_managers_create_webhooks(staff_user, monkeypatch):
    monkeypatch.setattr("monitoring.webhooks._getaddrinfo", lambda host, port: PUBLIC)
    with pytest.raises(Exception, match="Only risk managers"):
        webhook_create(url="https://hooks.example.com/risk", user=staff_user)


class Listener:
    """A TCP endpoint on 127.0.0.1 that reads a request and answers with ``reply(connection)``."""

    def __init__(self, reply):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.requests = 0
        self.reply = reply
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.requests += 1
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection):
        with connection:
            try:
                connection.recv(65536)
                self.reply(connection)
            except OSError:
                pass

    def close(self):
        self.socket.close()


def drip(connection):
    """A status line one byte every 0.3 s, for ever (until the client hangs up)."""
    for byte in b"HTTP/1.1 200 OK\r\n" * 100:
        connection.sendall(bytes([byte]))
        time.sleep(0.3)


def _ok(connection):
    connection.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")


def test_a_dripping_endpoint_is_cut_off_at_the_deadline():
    dripping = Listener(drip)
    started = time.monotonic()
    result = webhook_post(url=dripping.url, secret="s", payload={"a": 1}, timeout=1, allow_local=True)
    elapsed = time.monotonic() - started
    assert not result.ok and result.error == "no answer within 1 s"
    assert elapsed < 2.5, elapsed  # a per-read timeout alone would wait 0.3 s a byte, for ever
    dripping.close()


def test_redirects_are_not_followed():
    inside = Listener(_ok)

    def redirect(connection):
        connection.sendall(f"HTTP/1.1 302 Found\r\nLocation: {inside.url}\r\nContent-Length: 0\r\n\r\n".encode())

    outside = Listener(redirect)
    result = webhook_post(url=outside.url, secret="s", payload={}, timeout=2, allow_local=True)
    assert result.status_code == 302 and not result.ok and "redirects are not followed" in result.error
    assert inside.requests == 0
    outside.close()
    inside.close()


def test_a_name_that_rebinds_to_an_internal_address_is_refused_at_delivery(monkeypatch):
    inside = Listener(_ok)
    answers = iter([PUBLIC, [ipaddress.ip_address("127.0.0.1")]])
    monkeypatch.setattr("monitoring.webhooks._getaddrinfo", lambda host, port: next(answers))
    url = f"https://rebind.example:{inside.port}/hook"
    from monitoring.webhooks import webhook_target_parse, webhook_target_resolve

    assert webhook_target_resolve(webhook_target_parse(url, allow_local=False), allow_local=False, timeout=1) == PUBLIC
    result = webhook_post(url=url, secret="s", payload={}, timeout=2, allow_local=False)  # resolves anew: 127.0.0.1
    assert (
        not result.ok
        and result.error == "refused: rebind.example resolves to 127.0.0.1, which is not a public address."
    )
    assert inside.requests == 0
    inside.close()


def due_deliveries(demo_model, urls):
    rule = AlertRule.objects.create(model_name="credit", metric="score_psi", warning=0.1, critical=0.25, min_records=1)
    today = timezone.now().date()
    alert = Alert.objects.create(
        rule=rule, model_version=demo_model, severity="warning", value=0.2, threshold=0.1,
        window_start=today - timedelta(days=7), window_end=today, message="score PSI 0.2",
    )  # fmt: skip
    for url in urls:
        webhook = Webhook.objects.create(url=url, secret="s" * 43)
        Delivery.objects.create(
            alert=alert, webhook=webhook, event="opened", payload={}, next_attempt_at=timezone.now()
        )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_slow_endpoints_are_sent_to_side_by_side(demo_model, settings):
    settings.WEBHOOK_ALLOW_LOCAL, settings.WEBHOOK_TIMEOUT_SECONDS, settings.WEBHOOK_CONCURRENCY = True, 2, 4
    dripping, good = [Listener(drip) for _ in range(3)], Listener(_ok)
    due_deliveries(demo_model, [d.url for d in dripping] + [good.url])
    started = time.monotonic()
    assert webhook_deliveries_send() == (1, 3)
    wall = time.monotonic() - started
    spent = sum(DeliveryAttempt.objects.values_list("duration_ms", flat=True)) / 1000
    assert spent >= 5.9 and wall < 0.75 * spent, (wall, spent)  # three 2 s deadlines side by side, not in turn
    assert good.requests == 1 and Delivery.objects.filter(status="delivered").count() == 1
    errors = set(DeliveryAttempt.objects.exclude(error="").values_list("error", flat=True))
    assert errors == {"no answer within 2 s"}
    for listener in [*dripping, good]:
        listener.close()


def test_delivery_sends_nothing_for_an_internal_target_stored_before_the_checks(demo_model, settings):
    settings.WEBHOOK_CONCURRENCY = 1
    inside = Listener(_ok)
    due_deliveries(demo_model, [inside.url])  # a row from before: http, loopback
    assert webhook_deliveries_send() == (0, 1)
    assert inside.requests == 0
    assert DeliveryAttempt.objects.get().error == "refused: A webhook must be an https:// URL."
    inside.close()

"""The monitoring scheduler's tick: webhooks go out from their own thread, so slow endpoints never
hold up the fold, the alert rules or a canary's rollback."""

from __future__ import annotations

import pytest

from monitoring.models import DeliveryAttempt
from monitoring.tests.test_webhooks import Listener, drip, due_deliveries
from releases.management.commands.monitoring_scheduler import Command


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_tick_does_not_wait_for_slow_webhook_endpoints(demo_model, settings):
    settings.WEBHOOK_ALLOW_LOCAL, settings.WEBHOOK_TIMEOUT_SECONDS, settings.WEBHOOK_CONCURRENCY = True, 3, 1
    dripping = [Listener(drip) for _ in range(2)]
    due_deliveries(demo_model, [d.url for d in dripping])
    command = Command()
    command._sender = None
    command._tick()  # fold, alerts, canaries; the two 3 s deliveries go on in the sender thread
    sender = command._sender
    assert sender is not None and sender.is_alive()  # the tick returned before they ended
    command._tick()  # the next tick does not start a second sender while the first is busy
    assert command._sender is sender
    sender.join(timeout=30)
    assert DeliveryAttempt.objects.filter(error="no answer within 3 s").count() == 2
    for listener in dripping:
        listener.close()

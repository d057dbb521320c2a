"""The monitoring scheduler: every N seconds, fold, judge the alert rules and the canaries (roll
back or ramp), prune old import rejects, send due webhooks. It lives in the top app because it runs
every layer's periodic work."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from core.commands import Options
from monitoring.services.alerts import alerts_evaluate, webhook_deliveries_send
from monitoring.services.fold import monitoring_fold
from records.tasks import import_jobs_prune
from releases.services import releases_evaluate

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Fold new records, evaluate the alert rules and canaries, send due webhook deliveries, every N seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=60, help="seconds between runs (0: run once)")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        every: float = options.number("every")
        if every < 0:
            raise CommandError("--every must be 0 (once) or a number of seconds")
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        self._sender: threading.Thread | None = None
        while True:
            self._tick()
            deadline = time.monotonic() + every
            while time.monotonic() < deadline and not stopping:
                time.sleep(0.2)
            if not every or stopping:
                if self._sender is not None:  # what it is sending ends within its deadlines
                    self._sender.join()
                return

    def _tick(self) -> None:
        # One failing step is logged and retried next tick; the scheduler itself keeps running.
        try:
            folded = monitoring_fold()
            evaluated = alerts_evaluate()
            guarded = releases_evaluate()  # after the alerts: a canary's critical drift rolls it back
            import_jobs_prune()  # rejects past IMPORT_REJECTS_DAYS
        except Exception:
            logger.exception("monitoring scheduler tick failed")
        else:
            self.stdout.write(
                f"folded {folded.records} records, {folded.outcome_days} outcome days; alerts opened "
                f"{evaluated.opened}, escalated {evaluated.escalated}, resolved {evaluated.resolved}; canaries "
                f"checked {guarded.checked}, rolled back {len(guarded.rolled_back)}, ramped {len(guarded.advanced)}\n"
            )
        # Webhooks go out from their own thread: slow endpoints never hold up the next tick's fold,
        # alerts or rollbacks. A sender still busy from an earlier tick takes this tick's deliveries too.
        if self._sender is None or not self._sender.is_alive():
            self._sender = threading.Thread(target=self._send_webhooks, name="webhook-sender", daemon=True)
            self._sender.start()

    def _send_webhooks(self) -> None:
        try:
            delivered, failed = webhook_deliveries_send()
            self.stdout.write(f"webhooks delivered {delivered}, failed {failed}\n")
        except Exception:
            logger.exception("sending webhooks failed")
        finally:
            connections.close_all()  # this thread's own connection

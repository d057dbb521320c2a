"""Fold new records and changed outcomes into the monitoring rollups: once, or every N seconds."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.services import monitoring_fold


class Command(BaseCommand):
    help = "Fold records stored (and outcomes changed) since the last fold into the daily rollups."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds (0: once)")

    def handle(self, *args: Any, **options: Any) -> None:
        every: float = options["every"]
        if every < 0:
            raise CommandError("--every must be 0 (once) or a number of seconds")
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        while True:
            summary = monitoring_fold()
            self.stdout.write(
                f"folded {summary.records} records, {summary.outcome_days} outcome days"
                + (f", rebuilt {', '.join(summary.rebuilt)}" if summary.rebuilt else "")
                + f" (up to {summary.upto})\n"
            )
            if not every or stopping:
                return
            deadline = time.monotonic() + every
            while time.monotonic() < deadline and not stopping:
                time.sleep(0.2)
            if stopping:
                return

"""Fold new records and changed outcomes into the monitoring rollups, once (the scheduler,
``monitoring_scheduler``, does it every minute together with the alerts)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from monitoring.services.fold import monitoring_fold


class Command(BaseCommand):
    help = "Fold records stored (and outcomes changed) since the last fold into the daily rollups, once."

    def handle(self, *args: str, **options: object) -> None:
        summary = monitoring_fold()
        self.stdout.write(
            f"folded {summary.records} records, {summary.outcome_days} outcome days"
            + (f", rebuilt {', '.join(summary.rebuilt)}" if summary.rebuilt else "")
            + f" (up to {summary.upto})\n"
        )

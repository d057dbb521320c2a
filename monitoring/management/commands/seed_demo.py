"""The demo: the German credit model in production and, with --history, 90 days of traffic."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from monitoring.services.demo import HistorySummary, demo_history_seed
from predictions.management.summary import format_version_summary
from predictions.services import RegistryError, demo_model_ensure


class Command(BaseCommand):
    help = (
        "Make sure the demo model 'credit' (German credit data, logistic) is in production (trains once); "
        "with --history, also seed days of traffic with a shift in the last 30 and late outcomes (once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--history", action="store_true", help="seed the demo traffic history too")
        parser.add_argument("--days", type=int, default=90, help="days of history, ending today (default 90)")
        parser.add_argument("--per-day", type=int, default=200, help="predictions per day (default 200)")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        if not 31 <= options.integer("days") <= 366:
            raise CommandError("--days must be from 31 to 366 (the last 30 days carry the shift)")
        if not 1 <= options.integer("per_day") <= 10_000:
            raise CommandError("--per-day must be from 1 to 10000")
        try:
            version, trained = demo_model_ensure()
        except RegistryError as exc:
            raise CommandError(str(exc)) from None
        if trained:
            self.stdout.write(format_version_summary(version))
        else:
            self.stdout.write(f"demo model {version.model_id} is in production (nothing to train)\n")
        if options.flag("history"):
            summary = demo_history_seed(
                days=options.integer("days"), per_day=options.integer("per_day"), progress=self._progress
            )
            self.stdout.write(
                f"demo history up to {summary.last_day}: {summary.days_seeded} days seeded now, "
                f"{summary.records} records, {summary.outcomes} outcomes\n"
            )

    def _progress(self, day: int, days: int, summary: HistorySummary) -> None:
        if day % 10 == 0 or day == days:
            self.stdout.write(f"demo history: day {day}/{days} ({summary.records} records so far)\n")

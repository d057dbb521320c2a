from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from core.errors import ApplicationError
from releases.management.commands._release import version_arg
from releases.services import release_canary_set


class Command(BaseCommand):
    help = "Serve a percentage of NAME's applicants with NAME@VERSION (default: the ramp's first step)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="name@version")
        parser.add_argument("--percent", type=float, help="0 < N <= 100")
        parser.add_argument("--reason", required=True)
        parser.add_argument("--force", action="store_true", help="even if its gates failed")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        version = version_arg(options.text("model_id"))
        try:
            release = release_canary_set(
                model_version=version,
                percent=options.optional_number("percent"),
                reason=options.text("reason"),
                force=options.flag("force"),
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{version.model_id} serves {release.percent:g}% of {version.name}'s applicants\n")

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from core.errors import ApplicationError
from predictions.management.options import policy_option
from releases.management.commands._release import version_arg
from releases.services import release_promote


class Command(BaseCommand):
    help = "Make NAME@VERSION the champion; refused if its gates failed, unless --force with a --reason."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="name@version")
        parser.add_argument("--reason", required=True)
        parser.add_argument("--force", action="store_true", help="promote even if its gates failed")
        parser.add_argument("--refer-at", type=float, help="a new decision policy (a version with no records yet)")
        parser.add_argument("--decline-at", type=float, help="with --refer-at")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        version = version_arg(options.text("model_id"))
        try:
            promoted = release_promote(
                model_version=version,
                reason=options.text("reason"),
                force=options.flag("force"),
                decision_policy=policy_option(
                    options.optional_number("refer_at"), options.optional_number("decline_at")
                ),
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{promoted.model_id} is now the champion (production)\n")

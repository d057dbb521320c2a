from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from core.errors import ApplicationError
from releases.services import release_rollback


class Command(BaseCommand):
    help = "Return NAME's champion to the version before it; any challenger is stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--reason", required=True)

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        try:
            version = release_rollback(name=options.text("name"), reason=options.text("reason"))
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{version.model_id} is the champion again\n")

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from core.errors import ApplicationError
from releases.services import release_abort


class Command(BaseCommand):
    help = "Stop NAME's challenger (shadow or canary): every request goes to the champion."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--reason", required=True)

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        try:
            release_abort(name=options.text("name"), reason=options.text("reason"))
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{options.text('name')} has no challenger now\n")

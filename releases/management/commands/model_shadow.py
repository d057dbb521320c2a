from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from core.errors import ApplicationError
from releases.management.commands._release import version_arg
from releases.services import release_shadow_start


class Command(BaseCommand):
    help = "Put NAME@VERSION in shadow: it scores every request for NAME after the champion, never served."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="name@version")
        parser.add_argument("--reason", required=True)

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        version = version_arg(options.text("model_id"))
        try:
            release_shadow_start(model_version=version, reason=options.text("reason"))
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{version.model_id} is in shadow for {version.name}\n")

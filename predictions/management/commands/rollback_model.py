from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictions.services import RegistryError, model_version_rollback


class Command(BaseCommand):
    help = "Return NAME to the production version it had before the current one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            version = model_version_rollback(name=options["name"])
        except RegistryError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{version.model_id} is production again\n")

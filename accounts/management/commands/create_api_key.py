from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ApiKey
from accounts.services import api_key_create
from core.commands import Options


class Command(BaseCommand):
    help = "Create an API key for a service. The key is printed once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        name = options.text("name").strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters")
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"an API key named {name!r} already exists")
        _, key = api_key_create(name=name)
        self.stderr.write("Store this key now; it cannot be shown again.")
        self.stdout.write(key + "\n")

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ApiKey
from accounts.services import api_key_revoke
from core.commands import Options


class Command(BaseCommand):
    help = "Revoke the API key NAME; requests with it then get a 401."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        api_key = ApiKey.objects.filter(name=options.text("name")).first()
        if api_key is None:
            raise CommandError(f"no API key named {options.text('name')!r}")
        api_key_revoke(api_key=api_key)
        self.stdout.write(f"revoked {api_key}\n")

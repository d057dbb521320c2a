from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ApiKey
from accounts.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke the API key NAME; requests with it then get a 401."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        api_key = ApiKey.objects.filter(name=options["name"]).first()
        if api_key is None:
            raise CommandError(f"no API key named {options['name']!r}")
        api_key_revoke(api_key=api_key)
        self.stdout.write(f"revoked {api_key}\n")

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictions.models import ModelVersion
from predictions.services import model_version_promote


class Command(BaseCommand):
    help = "Make NAME@VERSION the production version; the previous production version is archived."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("version", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        version = ModelVersion.objects.filter(name=options["name"], version=options["version"]).first()
        if version is None:
            raise CommandError(f"model version {options['name']}@{options['version']} does not exist")
        promoted = model_version_promote(model_version=version)
        self.stdout.write(f"{promoted.model_id} is now production\n")

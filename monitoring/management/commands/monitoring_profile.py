"""Write a model version's reference profile from its training CSV (versions registered before
profiles existed)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from core.errors import ApplicationError
from predictions.selectors import model_version_get
from predictions.services import model_version_profile_from_csv


class Command(BaseCommand):
    help = "Compute a model version's reference profile from the CSV it was trained on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="name@version, e.g. credit@1")
        parser.add_argument("--csv", type=Path, required=True, help="the training CSV")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        try:
            version = model_version_get(model_id=options.text("model_id"))
            version = model_version_profile_from_csv(model_version=version, csv_path=options.path("csv"))
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        features = len(version.reference_profile["features"])
        self.stdout.write(f"{version.model_id}: profile of {features} features from {options.path('csv')}\n")

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from predictions.management.summary import format_version_summary
from predictions.services import RegistryError, demo_model_ensure


class Command(BaseCommand):
    help = "Make sure the demo model 'credit' (German credit data, logistic) is in production. Trains once."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            version, trained = demo_model_ensure()
        except RegistryError as exc:
            raise CommandError(str(exc)) from None
        if trained:
            self.stdout.write(format_version_summary(version))
        else:
            self.stdout.write(f"demo model {version.model_id} is in production (nothing to train)\n")

"""Everything a fresh deployment needs before it serves, idempotent and in one process."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from core.commands import Options
from predictions.embedding_runtime import embedder_get


class Command(BaseCommand):
    help = "Collect the static files, apply migrations, seed the demo model and prepare the embedding model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-seed", action="store_true", help="do not train/promote the demo model")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        # every HTML page names its CSS through the static manifest: without it, DEBUG off is a 500
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("migrate", interactive=False, verbosity=max(0, options.integer("verbosity") - 1))
        if not options.flag("no_seed"):
            call_command("seed_demo", stdout=self.stdout)
        embedder = embedder_get()  # exports the ONNX model once, then just loads it
        self.stdout.write(f"embedding model ready ({embedder.backend})\n")

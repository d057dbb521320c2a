from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from releases.management.commands._release import version_arg
from releases.services import model_validate
from releases.tables import gates_table


class Command(BaseCommand):
    help = "Run the release gates for NAME@VERSION against its champion; exit 1 if a gate fails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="name@version")
        parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (CI summaries)")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        version = version_arg(options.text("model_id"))
        validation = model_validate(model_version=version)
        self.stdout.write(gates_table(validation.gates, markdown=options.flag("markdown")) + "\n")
        champion = validation.champion.model_id if validation.champion else "none"
        verdict = "PASSED" if validation.passed else "FAILED"
        self.stdout.write(f"{version.model_id} against champion {champion}: {verdict}\n")
        if not validation.passed:
            raise CommandError(f"{version.model_id} failed its release gates", returncode=1)

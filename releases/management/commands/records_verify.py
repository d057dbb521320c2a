from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from predictions.models import ModelVersion
from releases.management.commands._release import since_arg
from releases.selectors import VERIFY_TOLERANCE, records_verify


class Command(BaseCommand):
    help = "Replay stored records with the version that made each one; exit 1 on any mismatch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="a model name (default: every name with records)")
        parser.add_argument("--since", help="only records of the last 30d, 12h, 90m...")
        parser.add_argument("--sample", type=int, help="at most this many of the newest records per name")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        model = options.optional_text("model")
        names = [model] if model else sorted(set(ModelVersion.objects.values_list("name", flat=True)))
        if model and not ModelVersion.objects.filter(name=model).exists():
            raise CommandError(f"model {model!r} does not exist")
        since = since_arg(options.optional_text("since"))
        failed = 0
        for name in names:
            result = records_verify(name=name, since=since, limit=options.optional_integer("sample"))
            self.stdout.write(
                f"{name}: {result.checked} records checked, {len(result.mismatches)} mismatches "
                f"(max score error {result.max_score_error:.2e}, max driver error {result.max_contribution_error:.2e}, "
                f"tolerance {VERIFY_TOLERANCE:g}) in {result.seconds:.2f} s\n"
            )
            for mismatch in result.mismatches[:20]:
                self.stdout.write(
                    f"  {mismatch.record_id} {mismatch.model_id}: stored {mismatch.stored_score:.12f}, "
                    f"replayed {mismatch.replayed_score:.12f}, driver error {mismatch.max_contribution_error:.2e}\n"
                )
            failed += len(result.mismatches)
        if failed:
            raise CommandError(f"{failed} stored decisions could not be reproduced", returncode=1)

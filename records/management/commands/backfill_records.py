"""python manage.py backfill_records PATH --model NAME [--version N] [--timestamp-column COL]
[--outcome-column COL --outcome-positive VALUE --outcome-negative VALUE] [--id-column COL]
[--batch-size N] [--rejects PATH]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.commands import Options
from predictions.selectors import ModelNotFound, loaded_model_get
from records.backfill import BackfillError, BackfillOptions, BackfillSummary, backfill_csv


def _check_options(options: Options) -> None:
    """One-line errors for options that cannot work together, before anything is read."""
    column, positive, negative = (
        options.optional_text(f"outcome_{part}") for part in ("column", "positive", "negative")
    )
    if any((column, positive, negative)) and not all((column, positive, negative)):
        raise CommandError("--outcome-column, --outcome-positive and --outcome-negative go together")
    if positive and negative and positive.strip().casefold() == negative.strip().casefold():
        raise CommandError("--outcome-positive and --outcome-negative must differ")
    if not 1 <= options.integer("batch_size") <= 100_000:
        raise CommandError("--batch-size must be between 1 and 100000")


class Command(BaseCommand):
    help = "Score, explain, embed and store historical rows from a CSV (or .csv.gz). Safe to re-run."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # our --version (a model version) replaces Django's --version (the Django version)
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--model", required=True, help="registry name (its production version)")
        parser.add_argument("--version", type=int, help="a specific version instead of production")
        parser.add_argument("--timestamp-column", help="ISO 8601 column to use as the record's time")
        parser.add_argument("--outcome-column", help="column holding what really happened")
        parser.add_argument("--outcome-positive", help="the outcome value that means the risk materialised")
        parser.add_argument("--outcome-negative", help="the outcome value that means it did not")
        parser.add_argument("--id-column", help="a column holding each row's own unique key")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--rejects", type=Path, help="where to write invalid rows (default: PATH.rejects.csv)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        path: Path = options.path("path")
        if not path.is_file():
            raise CommandError(f"file not found: {path}")
        _check_options(options)
        name, version = options.text("model"), options.optional_integer("version")
        try:
            model = loaded_model_get(name=name, model_id=f"{name}@{version}" if version else None)
        except ModelNotFound as exc:
            raise CommandError(str(exc)) from None
        rejects_path = options.optional_path("rejects") or path.with_name(
            path.name.removesuffix(".gz") + ".rejects.csv"
        )
        size = path.stat().st_size
        no_bar = options.flag("no_progress")
        bar = tqdm(total=size, unit="B", unit_scale=True, disable=no_bar, desc=f"backfill {model.model_id}")

        def progress(summary: BackfillSummary) -> None:
            bar.update(summary.bytes_read - bar.n)

        summary = BackfillSummary()
        run = _backfill_options(options, path)
        try:
            with path.open("rb") as source, rejects_path.open("w", encoding="utf-8", newline="") as rejects:
                summary = backfill_csv(
                    source=source,
                    name=path.name,
                    model=model,
                    options=run,
                    rejects=rejects,
                    progress=progress,
                    summary=summary,
                    size=size,
                )
        except BackfillError as exc:
            if summary.rejected_rows == 0:
                rejects_path.unlink(missing_ok=True)
            stored = f" ({summary.inserted_rows} rows stored before it)" if summary.inserted_rows else ""
            raise CommandError(f"{exc}{stored}") from None
        finally:
            bar.close()
        if summary.rejected_rows == 0:
            rejects_path.unlink(missing_ok=True)
        self._report(model.model_id, summary, rejects_path)

    def _report(self, model_id: str, summary: BackfillSummary, rejects_path: Path) -> None:
        self.stdout.write(
            f"{model_id}: read {summary.processed_rows} rows, inserted {summary.inserted_rows}, "
            f"already stored {summary.skipped_rows}, rejected {summary.rejected_rows}"
            + (f" (see {rejects_path})" if summary.rejected_rows else "")
            + "\n"
        )
        if summary.ignored_columns:
            self.stdout.write(f"ignored columns outside the schema: {', '.join(summary.ignored_columns)}\n")


def _backfill_options(options: Options, path: Path) -> BackfillOptions:
    return BackfillOptions(
        timestamp_column=options.optional_text("timestamp_column"),
        outcome_column=options.optional_text("outcome_column"),
        outcome_positive=options.optional_text("outcome_positive"),
        outcome_negative=options.optional_text("outcome_negative"),
        id_column=options.optional_text("id_column"),
        batch_size=options.integer("batch_size"),
        request_id=f"backfill:{path.name}"[:128],
        # memory stays bounded here too; an operator's file may be as long as it likes
        max_line_length=settings.IMPORT_MAX_LINE_LENGTH,
        max_columns=settings.IMPORT_MAX_COLUMNS,
    )

"""python manage.py train_model --csv PATH --target COL --positive VALUE --name NAME [...]"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import Options
from core.errors import ApplicationError
from core.types import JSON
from predictions.management.options import policy_option
from predictions.management.summary import format_version_summary
from predictions.ml.training import ALGORITHM_NAMES
from predictions.models import ModelVersion
from predictions.services import model_version_train


class Command(BaseCommand):
    help = "Train a risk model from a CSV, evaluate it on a stratified holdout and register it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--csv", required=True, type=Path, help="training data (header row required)")
        parser.add_argument("--target", required=True, help="target column (exactly two classes)")
        parser.add_argument("--positive", required=True, help="the target value that means risk")
        parser.add_argument("--name", required=True, help="registry name; the version counts up")
        parser.add_argument("--algorithm", choices=ALGORITHM_NAMES, default="logistic")
        parser.add_argument("--exclude", default="", help="comma-separated columns to leave out")
        parser.add_argument(
            "--protected",
            default="",
            help="comma-separated protected attributes: kept out of the model, recorded for fairness monitoring",
        )
        parser.add_argument("--description-file", type=Path, help="JSON object: column -> description")
        parser.add_argument(
            "--reasons",
            type=Path,
            help='reason table: {"reasons": [{"code", "sentence", "features"}]}; other features get one each',
        )
        parser.add_argument("--refer-at", type=float, help="scores from here are referred (default: the medium band)")
        parser.add_argument("--decline-at", type=float, help="scores from here are declined (default: the high band)")
        parser.add_argument(
            "--embedder",
            choices=[choice.value for choice in ModelVersion.Embedder],
            default=ModelVersion.Embedder.TABULAR.value,
            help="how records are embedded for similar-case search (tabular: fast, the default; text: MiniLM)",
        )
        parser.add_argument("--promote", action="store_true", help="make the new version production")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        name: str = options.text("name")
        if not name.replace("-", "").replace("_", "").isalnum() or len(name) > 64:
            raise CommandError(f"--name {name!r} must be letters, digits, '-' or '_' (at most 64)")
        described = _json_file(options.optional_path("description_file"), "description")
        if described is not None and (
            not isinstance(described, dict) or not all(isinstance(v, str) for v in described.values())
        ):
            raise CommandError("description file must be a JSON object mapping column names to strings")
        descriptions = {k: str(v) for k, v in described.items()} if isinstance(described, dict) else None
        exclude = [col.strip() for col in options.text("exclude").split(",") if col.strip()]
        protected = [col.strip() for col in options.text("protected").split(",") if col.strip()]
        reasons = _json_file(options.optional_path("reasons"), "reason table")
        try:
            version = model_version_train(
                csv_path=options.path("csv"),
                target=options.text("target"),
                positive=options.text("positive"),
                name=name,
                algorithm=options.text("algorithm"),
                exclude=exclude,
                protected=protected,
                descriptions=descriptions,
                reasons=reasons,
                decision_policy=policy_option(
                    options.optional_number("refer_at"), options.optional_number("decline_at")
                ),
                embedder=options.text("embedder"),
                promote=options.flag("promote"),
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(format_version_summary(version))


def _json_file(path: Path | None, what: str) -> JSON:
    """The file's JSON (None without a file)."""
    if path is None:
        return None
    try:
        value: JSON = json.loads(path.read_text(encoding="utf-8"))
        return value
    except FileNotFoundError:
        raise CommandError(f"{what} file not found: {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"{what} file is not valid JSON: {path}: {exc}") from None

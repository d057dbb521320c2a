from __future__ import annotations

import time

import numpy as np
from django.core.management.base import BaseCommand, CommandParser

from core.commands import Options
from predictions.selectors import loaded_model_get
from releases.management.commands._release import since_arg, version_arg
from releases.selectors import rows_replay, stored_rows_get


class Command(BaseCommand):
    help = "Re-score stored records of NAME with NAME@VERSION (their stored features) and compare."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="name@version")
        parser.add_argument("--since", help="only records of the last 30d, 12h, 90m...")
        parser.add_argument("--limit", type=int, help="at most this many of the newest records")

    def handle(self, *args: str, **raw: object) -> None:
        options = Options(raw)
        version = version_arg(options.text("model_id"))
        model = loaded_model_get(model_id=version.model_id)
        stored = stored_rows_get(
            name=version.name, since=since_arg(options.optional_text("since")), limit=options.optional_integer("limit")
        )
        started = time.perf_counter()
        replay = rows_replay(model=model, rows=stored.features)
        seconds = time.perf_counter() - started
        readable = int(replay.readable.sum())
        stored_scores = np.asarray(stored.scores)[replay.readable]
        stored_labels = [label for label, ok in zip(stored.labels, replay.readable, strict=True) if ok]
        changed = sum(a != b for a, b in zip(stored_labels, replay.labels, strict=True))
        rate = readable / seconds if seconds > 0 else float("inf")
        self.stdout.write(
            f"replayed {readable} of {len(stored)} records with {model.model_id} ({rate:,.0f} records/s)\n"
        )
        if readable:
            diff = replay.scores - stored_scores
            self.stdout.write(
                f"score difference from the stored: mean {diff.mean():+.4f}, mean |d| {np.abs(diff).mean():.4f}, "
                f"max |d| {np.abs(diff).max():.4f}; labels changed {changed} ({changed / readable:.1%})\n"
            )
        if readable < len(stored):
            self.stdout.write(f"{len(stored) - readable} records lack features this version needs\n")

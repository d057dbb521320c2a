"""What decisions and reasons add to scoring: the demo model's predict for 1 and 200 rows, and the
policy and reason-picking parts of it, timed in one process.

    .venv/bin/python -m bench.decisions [--runs 2000]

No database: the model is trained from data/german_credit.csv as the demo trains it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times)), float(np.percentile(times, 99))


def _parts(model: Any, batch: list[dict[str, Any]], encode: Any) -> dict[str, Callable[[], object]]:
    explanation = model.explainer.explain(encode(model.schema, batch))
    scores = explanation.probability
    return {
        "predict (score, drivers, decision, reasons)": lambda: model.predict(batch),
        "explain only": lambda: model.explainer.explain(encode(model.schema, batch)),
        "decision (policy)": lambda: model.policy.decide(scores),
        "reasons (every row)": lambda: model.reason_coder.reasons_many(explanation.contributions),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskengine.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()  # for the demo's protected columns; nothing here touches the database
    from predictions.ml.decisions import reason_table_build
    from predictions.ml.features import decode_row, encode, encode_frame
    from predictions.ml.scoring import DEFAULT_LABEL_BANDS, scoring_model_from_trained
    from predictions.ml.training import read_training_csv, train
    from predictions.services import DEMO_PROTECTED

    frame = read_training_csv(ROOT / "data" / "german_credit.csv")
    descriptions = json.loads((ROOT / "data" / "german_credit.descriptions.json").read_text())
    trained = train(frame, target="creditability", positive="bad", protected=DEMO_PROTECTED, descriptions=descriptions)
    table = json.loads((ROOT / "data" / "german_credit.reasons.json").read_text())
    model = scoring_model_from_trained(
        trained,
        list(DEFAULT_LABEL_BANDS),
        reasons=reason_table_build(trained.schema, table, protected=DEMO_PROTECTED),
    )
    rows = [decode_row(model.schema, row) for row in encode_frame(frame, model.schema)]
    print("| part | rows | p50 ms | p99 ms |\n| --- | --- | --- | --- |")
    for n in (1, 200):
        for name, fn in _parts(model, rows[:n], encode).items():
            p50, p99 = _time(fn, args.runs if n == 1 else max(args.runs // 10, 50))
            print(f"| {name} | {n} | {p50:.4f} | {p99:.4f} |")


if __name__ == "__main__":
    main()

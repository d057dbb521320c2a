"""Benchmark the inference path (no Django, no database): one-row score+drivers latency and batch throughput.

Usage: .venv/bin/python -m bench.inference [--algorithm logistic|hgb] [--rows 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from predictions.ml.decisions import LabelBand
from predictions.ml.features import decode_row, encode_frame, validate_features
from predictions.ml.scoring import scoring_model_from_trained
from predictions.ml.training import read_training_csv, train

ROOT = Path(__file__).resolve().parent.parent
BANDS: list[LabelBand] = [{"label": "low", "min": 0.0}, {"label": "medium", "min": 0.3}, {"label": "high", "min": 0.6}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algorithm", default="logistic", choices=["logistic", "hgb"])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()

    frame = read_training_csv(ROOT / "data" / "german_credit.csv")
    trained = train(frame, target="creditability", positive="bad", algorithm=args.algorithm)
    model = scoring_model_from_trained(trained, BANDS)
    encoded = encode_frame(frame.drop(columns=["creditability"]), trained.schema)
    raw_rows = [decode_row(trained.schema, row) for row in encoded]
    rng = np.random.default_rng(0)

    # one row: validate + encode + score + explain + sorted drivers
    for row in raw_rows[:50]:  # warm-up (numba, caches)
        model.predict([validate_features(trained.schema, row).values])
    timings = []
    for i in rng.integers(0, len(raw_rows), args.repeat):
        start = time.perf_counter()
        values = validate_features(trained.schema, raw_rows[i]).values
        prediction = model.predict([values])[0]
        timings.append(time.perf_counter() - start)
        assert len(prediction.drivers) == len(trained.schema)
    timings.sort()
    p50 = statistics.median(timings) * 1000
    p99 = timings[int(len(timings) * 0.99)] * 1000

    # batch: N validated rows, one vectorised predict+explain call
    batch = [validate_features(trained.schema, raw_rows[i]).values for i in rng.integers(0, len(raw_rows), args.rows)]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        predictions = model.predict(batch)
        best = min(best, time.perf_counter() - start)
    assert len(predictions) == args.rows
    print(f"algorithm: {args.algorithm}  features: {len(trained.schema)}")
    print(f"one row (validate + score + drivers): p50 {p50:.3f} ms  p99 {p99:.3f} ms  over {args.repeat} calls")
    print(f"batch of {args.rows}: {best * 1000:.1f} ms  ->  {args.rows / best:,.0f} rows/s (best of 3)")


if __name__ == "__main__":
    main()

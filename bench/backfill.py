"""Benchmark the CSV backfill: rows/s for each embedder, next to the raw embedding throughput.

Usage: .venv/bin/python -m bench.backfill [--rows 100000] [--text-rows 5000] [--data-dir .data-bench-backfill]

Makes a CSV by resampling data/german_credit.csv with noise on the numbers, then backfills it into a
fresh model version per embedder (text: the demo model's MiniLM; tabular: the same model with the
tabular embedder), timing the whole command path (read, validate, score, explain, embed, COPY).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def make_csv(path: Path, rows: int) -> None:
    import pandas as pd

    frame = pd.read_csv(ROOT / "data" / "german_credit.csv")
    rng = np.random.default_rng(1)
    sample = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
    for column, low, high in (("credit_amount", 250, 18424), ("duration_in_month", 4, 72), ("age_in_years", 19, 75)):
        noisy = sample[column] * rng.normal(1.0, 0.08, rows)
        sample[column] = np.clip(np.round(noisy), low, high).astype(int)
    sample.to_csv(path, index=False)


def _setup(data_dir: Path) -> None:
    os.environ["RISKENGINE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskengine.settings")
    os.environ.setdefault("DEBUG", "1")
    if (ROOT / ".data" / "embedding").is_dir() and not (data_dir / "embedding").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ROOT / ".data" / "embedding", data_dir / "embedding")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("bootstrap", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115


def _bench_model(embedder: str) -> Any:
    """A copy of the demo model's production version served with ``embedder``, with no records."""
    from predictions.models import ModelVersion
    from predictions.selectors import loaded_model_cache_clear, loaded_model_get
    from predictions.services import model_version_promote
    from records.models import Record

    version = ModelVersion.objects.filter(name=f"bench-{embedder}").first()
    if version is None:
        version = ModelVersion.objects.get(name="credit", status="production")
        version.pk = None
        version.name = f"bench-{embedder}"
        version.version = 1
        version.status = "staging"
        version.embedder = embedder
        version.save()
        model_version_promote(model_version=version)
    Record.objects.filter(model_version=version).delete()
    loaded_model_cache_clear()
    return loaded_model_get(name=f"bench-{embedder}")


def _raw_embedding_rate(model: Any, csv_path: Path, embedder: str) -> float:
    """Rows per second of the embedder alone, on rows of the same file, in the same run."""
    from predictions.embedding_runtime import embedder_get
    from predictions.ml.embedding import render_text
    from predictions.ml.features import decode_row, encode_frame
    from predictions.ml.training import read_training_csv

    frame = read_training_csv(csv_path).head(2000 if embedder == "tabular" else 300)
    encoded = encode_frame(frame.drop(columns=["creditability"]), model.schema)
    if embedder == "tabular":
        start = time.perf_counter()
        model.tabular_embedder().encode_rows(encoded)
    else:
        texts = [render_text(model.schema, decode_row(model.schema, row)) for row in encoded]
        embedder_get().encode(texts[:10])
        start = time.perf_counter()
        embedder_get().encode(texts)
    return len(encoded) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--text-rows", type=int, default=5_000, help="rows for the (slow) text embedder")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data-bench-backfill")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    _setup(data_dir)
    from records.backfill import BackfillOptions, backfill_csv

    results = []
    for embedder, rows in (("tabular", args.rows), ("text", args.text_rows)):
        csv_path = data_dir / f"backfill-{rows}.csv"
        if not csv_path.exists():
            make_csv(csv_path, rows)
        model = _bench_model(embedder)
        raw_rate = _raw_embedding_rate(model, csv_path, embedder)
        start = time.perf_counter()
        with csv_path.open("rb") as source:
            summary = backfill_csv(
                source=source, name=csv_path.name, model=model, options=BackfillOptions(batch_size=1000)
            )
        rate = summary.inserted_rows / (time.perf_counter() - start)
        results.append((embedder, rows, summary.inserted_rows, rate, raw_rate))
    print("backfill throughput (read + validate + score + explain + embed + COPY, batches of 1000):")
    for embedder, rows, inserted, rate, raw_rate in results:
        print(
            f"  {embedder:8s} {rows:>7,} rows  inserted {inserted:>7,}  {rate:9,.0f} rows/s"
            f"   raw embedding {raw_rate:9,.0f} rows/s   ratio {rate / raw_rate:.2f}"
        )


if __name__ == "__main__":
    main()

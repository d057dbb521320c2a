"""Compare the embedding backends on real record texts: one-text latency, throughput, agreement.

Usage: .venv/bin/python -m bench.embedding [--threads 2] [--texts 200] [--no-spin]

--no-spin: ONNX Runtime's threads sleep between operators (EMBEDDING_SPIN=0).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from predictions.ml.embedding import load_embedder, render_text
from predictions.ml.features import decode_row, encode_frame, infer_schema
from predictions.ml.training import read_training_csv

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".data" / "embedding")
    parser.add_argument("--no-spin", dest="spin", action="store_false", help="EMBEDDING_SPIN=0 for ONNX Runtime")
    args = parser.parse_args()
    frame = read_training_csv(ROOT / "data" / "german_credit.csv").drop(columns=["creditability"])
    schema = infer_schema(frame)
    texts = [render_text(schema, decode_row(schema, row)) for row in encode_frame(frame, schema)[: args.texts]]
    vectors = {}
    for backend in ("torch", "onnx"):
        embedder = load_embedder(
            backend=backend, model_path=None, cache_dir=args.cache_dir, threads=args.threads, spin=args.spin
        )
        embedder.encode(texts[:10])
        one = []
        for text in texts[:100]:
            start = time.perf_counter()
            embedder.encode([text])
            one.append(time.perf_counter() - start)
        start = time.perf_counter()
        vectors[backend] = embedder.encode(texts)
        throughput = len(texts) / (time.perf_counter() - start)
        tokens = statistics.mean(len(t.split()) for t in texts)
        label = f"{backend:5s} threads {args.threads}{'' if args.spin else ' no-spin'}"
        print(
            f"{label}: one text p50 {statistics.median(one) * 1000:6.2f} ms, "
            f"batch of {len(texts)}: {throughput:6.1f} texts/s  (mean {tokens:.0f} words a text)"
        )
    cosine = (vectors["torch"] * vectors["onnx"]).sum(axis=1)
    print(f"cosine onnx-int8 vs torch fp32: min {cosine.min():.4f}, mean {cosine.mean():.4f}")
    again = load_embedder(backend="onnx", model_path=None, cache_dir=args.cache_dir, threads=args.threads)
    print(f"identical on repeat (onnx): {np.array_equal(vectors['onnx'][:5], again.encode(texts[:5]))}")


if __name__ == "__main__":
    main()

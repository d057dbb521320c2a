"""The text embedder before and after: CPU and wall time per text, and how far the vectors moved.

Usage: .venv/bin/python -m bench.text_embedder [--texts 300] [--rounds 3]

Each variant is an ONNX Runtime session over the same int8 export, run on the demo's record
texts one at a time, unpadded, as ``OnnxEmbedder.encode`` runs them:
- the exported graph, 2 threads that spin during a run (the default before 2026-12-02);
- the same on 1 thread;
- the served graph (``without_mask_ops``) on 2 spinning threads, and on 1 thread (the default);
- the served graph on 1 thread without ONNX Runtime's SkipLayerNormalization fusion: faster, but
  its vectors move (shown for the record, not used).
The variants alternate for ``--rounds`` rounds, so the machine's drift weighs on all alike. Prints
the median CPU and wall milliseconds per text, each variant's ratio to the first, and the lowest
cosine of a variant's vectors to the first variant's.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from predictions.ml.embedding import (
    OnnxEmbedder,
    _mean_pool_normalise,
    load_embedder,
    render_text,
    without_mask_ops,
)
from predictions.ml.features import decode_row, encode_frame, infer_schema
from predictions.ml.training import read_training_csv

ROOT = Path(__file__).resolve().parent.parent


def _session(model: bytes, threads: int, *, disabled: tuple[str, ...] = ()) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"], disabled_optimizers=list(disabled))


def _vectors(session: Any, encodings: list[Any]) -> np.ndarray:
    names = {item.name for item in session.get_inputs()}
    out = []
    for encoding in encodings:
        ids = np.array([encoding.ids], dtype=np.int64)
        mask = np.array([encoding.attention_mask], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out.append(_mean_pool_normalise(session.run(None, {k: v for k, v in feed.items() if k in names})[0], mask)[0])
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".data" / "embedding")
    args = parser.parse_args()
    frame = read_training_csv(ROOT / "data" / "german_credit.csv").drop(columns=["creditability"])
    schema = infer_schema(frame)
    texts = [render_text(schema, decode_row(schema, row)) for row in encode_frame(frame, schema)[: args.texts]]
    embedder = load_embedder(backend="onnx", model_path=None, cache_dir=args.cache_dir, threads=1)
    assert isinstance(embedder, OnnxEmbedder)
    encodings = [embedder.tokenizer.encode(text) for text in texts]
    exported = embedder.onnx_path.read_bytes()
    served = without_mask_ops(exported)
    variants = {
        "exported graph, 2 spinning threads (before)": _session(exported, 2),
        "exported graph, 1 thread": _session(exported, 1),
        "served graph, 2 spinning threads": _session(served, 2),
        "served graph, 1 thread (the default)": _session(served, 1),
        "served graph, 1 thread, no SkipLayerNorm fusion": _session(served, 1, disabled=("SkipLayerNormFusion",)),
    }
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    vectors = {name: _vectors(session, encodings) for name, session in variants.items()}  # also the warm-up
    for _ in range(args.rounds):
        for name, session in variants.items():
            started_cpu, started = time.process_time(), time.perf_counter()
            _vectors(session, encodings)
            cpu[name].append((time.process_time() - started_cpu) / len(texts) * 1000)
            wall[name].append((time.perf_counter() - started) / len(texts) * 1000)
    tokens = statistics.median(len(encoding.ids) for encoding in encodings)
    print(f"{len(texts)} record texts (median {tokens:.0f} tokens), one at a time, {args.rounds} rounds alternating:")
    print("| variant | CPU per text | wall per text | CPU ratio | wall ratio | lowest cosine to before |")
    print("| --- | --- | --- | --- | --- | --- |")
    first = next(iter(variants))
    base_cpu, base_wall = statistics.median(cpu[first]), statistics.median(wall[first])
    for name in variants:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        cosine = float(np.min(np.sum(vectors[name] * vectors[first], axis=1)))
        print(f"| {name} | {c:.2f} ms | {w:.2f} ms | {c / base_cpu:.2f} | {w / base_wall:.2f} | {cosine:.6f} |")


if __name__ == "__main__":
    main()

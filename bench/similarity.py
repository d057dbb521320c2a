"""How similar are "similar cases"? kNN-AUC of each embedder on the German credit data.

Each record is scored by the share of bad outcomes among its 10 nearest neighbours (cosine); the
ROC AUC of that score against the true outcome says how much the neighbourhoods know about risk.
Two protocols: held-out (test split queried against the training split, the model trained on the
training split only) and leave-one-out over all 1,000 rows (the issue's reference protocol).

Usage: .venv/bin/python -m bench.similarity
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from predictions.ml.algorithms.common import SEED
from predictions.ml.embedding import TabularEmbedder, load_embedder, render_text
from predictions.ml.features import decode_row, encode_frame
from predictions.ml.scoring import scoring_model_from_trained
from predictions.ml.training import TEST_SIZE, read_training_csv, train

ROOT = Path(__file__).resolve().parent.parent
K = 10


def knn_auc(queries: np.ndarray, base: np.ndarray, base_y: np.ndarray, query_y: np.ndarray, *, loo: bool) -> float:
    similarity = queries @ base.T
    if loo:
        np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1)[:, :K]
    return float(roc_auc_score(query_y, base_y[nearest].mean(axis=1)))


def main() -> None:
    frame = read_training_csv(ROOT / "data" / "german_credit.csv")
    y = (frame["creditability"] == "bad").to_numpy(dtype=int)
    features = frame.drop(columns=["creditability"])
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=TEST_SIZE, stratify=y, random_state=SEED)
    embeddings: dict[str, np.ndarray] = {}
    timings: dict[str, float] = {}
    for algorithm in ("logistic", "hgb"):
        trained = train(frame, target="creditability", positive="bad", algorithm=algorithm)
        scorer = scoring_model_from_trained(trained, [{"label": "low", "min": 0.0}])
        encoded = encode_frame(features, trained.schema)
        embedder = TabularEmbedder(scorer.explainer, trained.schema)
        embedder.encode_rows(encoded[:1])
        start = time.perf_counter()
        for row in encoded[:200]:
            embedder.encode_rows(row[None, :])
        timings[f"tabular ({algorithm})"] = (time.perf_counter() - start) / 200
        embeddings[f"tabular ({algorithm})"] = embedder.encode_rows(encoded)
        if algorithm == "logistic":
            schema = trained.schema
            texts = [render_text(schema, decode_row(schema, row)) for row in encoded]
            text_embedder = load_embedder(
                backend="onnx", model_path=None, cache_dir=ROOT / ".data" / "embedding", threads=2
            )
            start = time.perf_counter()
            embeddings["text (MiniLM, onnx int8)"] = text_embedder.encode(texts)
            timings["text (MiniLM, onnx int8)"] = (time.perf_counter() - start) / len(texts)
    rng = np.random.default_rng(0)
    random = rng.normal(size=(len(y), 384))
    embeddings["random"] = random / np.linalg.norm(random, axis=1, keepdims=True)
    timings["random"] = 0.0
    print(f"kNN-AUC, k={K}, German credit (1,000 rows; held-out: {len(idx_test)} test rows vs {len(idx_train)} train)")
    print(f"{'embedding':28s} {'held-out':>9s} {'leave-one-out':>14s} {'time/row':>10s}")
    for name, vectors in embeddings.items():
        held_out = knn_auc(vectors[idx_test], vectors[idx_train], y[idx_train], y[idx_test], loo=False)
        loo = knn_auc(vectors, vectors, y, y, loo=True)
        print(f"{name:28s} {held_out:9.3f} {loo:14.3f} {timings[name] * 1e6:8.0f} µs")


if __name__ == "__main__":
    main()

"""Benchmark POST /api/predict/: its parts in-process, and the whole request through gunicorn on loopback.

Usage: .venv/bin/python -m bench.predict [--requests 300] [--port 8765] [--threads N]

Uses the configured database (the embedded PostgreSQL by default), after `manage.py bootstrap`.
Whole: one keep-alive client sending requests one after another to a 1-worker gunicorn (production
settings, DEBUG off) started by this script. Parts, in-process over the same rows and in request
order: score + drivers (validation, predict, explain), one embed, one record insert. Blocks of 25
requests alternate with the same rows' parts, so the machine's drift weighs on both alike. Prints p50/p99 of each,
the ratio goal (whole p50 <= 1.3 x sum of the parts' p50s), the worker's own Server-Timing
breakdown, and the parts again each in a loop of its own (warm caches).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 25


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def _time(fn: Callable[[int], object], n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--threads", type=int, default=None, help="EMBEDDING_THREADS (default: the setting)")
    args = parser.parse_args()
    if args.threads:
        os.environ["EMBEDDING_THREADS"] = str(args.threads)
    from bench.gunicorn import _ready, setup_django, start_gunicorn

    setup_django(production=True)
    from django.conf import settings

    from accounts.services import api_key_create
    from predictions.embedding_runtime import embed_rows, embedder_get
    from predictions.inference import inference_predict, inference_validate
    from predictions.ml.features import decode_row, encode_frame
    from predictions.ml.training import read_training_csv
    from predictions.selectors import loaded_model_get
    from records.models import Record
    from records.services import RecordOrigin, record_create_many

    model = loaded_model_get(name="credit")
    embedder_get().encode(["warm up"])
    frame = read_training_csv(ROOT / "data" / "german_credit.csv").drop(columns=["creditability"])
    rows = [decode_row(model.schema, r) for r in encode_frame(frame, model.schema)]
    n = args.requests
    feats = [rows[i % len(rows)] for i in range(n)]

    validated = [inference_validate(model=model, features=f) for f in feats]
    for v in validated[:20]:  # warm-up
        inference_predict(model=model, rows=[v])
    bench_id = f"bench-{uuid.uuid4().hex[:8]}"

    def score_part(i: int) -> Any:
        return inference_predict(model=model, rows=[inference_validate(model=model, features=feats[i])])

    def embed_part(i: int) -> Any:
        return embed_rows(model=model, rows=[validated[i]])

    api_key, key = api_key_create(name=bench_id)

    def insert_part(i: int, prediction: Any, vector: Any) -> Any:
        # As a request stores it: its own row and vector (the HNSW insert of a new vector costs
        # more than re-inserting one already in the graph), its request id, and the client's user
        # and API key (each a foreign key that PostgreSQL checks).
        return record_create_many(
            model=model,
            rows=[validated[i]],
            predictions=prediction,
            embeddings=vector,
            origin=RecordOrigin(request_id=uuid.uuid4().hex, created_by=api_key.user, api_key=api_key),
        )

    env = dict(os.environ, GUNICORN_WORKERS="1", GUNICORN_BIND=f"127.0.0.1:{args.port}")
    env["API_THROTTLE_RATE"] = "100000/min"
    server = start_gunicorn(env)
    in_order: dict[str, list[float]] = {"score + drivers": [], "embed (1 text)": [], "insert (1 record)": []}
    whole: list[float] = []
    server_timing: dict[str, list[float]] = {}
    try:
        ready_after = _ready(args.port, time.perf_counter())
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}

        def post(i: int) -> None:
            start = time.perf_counter()
            conn.request("POST", "/api/predict/", json.dumps({"model": "credit", "features": feats[i]}), headers)
            response = conn.getresponse()
            response.read()
            whole.append(time.perf_counter() - start)
            if response.status != 201:
                raise RuntimeError(f"status {response.status}")
            for part in response.getheader("Server-Timing", "").split(","):
                name, _, value = part.strip().partition(";dur=")
                server_timing.setdefault(name, []).append(float(value) / 1000)

        def parts(i: int) -> None:
            # In request order, each step timed: each part runs in the CPU-cache state it has
            # inside a request (the embed's weights evict the insert's working set).
            t0 = time.perf_counter()
            prediction = score_part(i)
            t1 = time.perf_counter()
            vector = embed_part(i)
            t2 = time.perf_counter()
            insert_part(i, prediction, vector)
            t3 = time.perf_counter()
            for name, took in zip(in_order, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                in_order[name].append(took)

        for i in range(20):
            post(i)
            parts(i)
        # Alternating blocks of requests and of the same rows' parts, so that drift in the
        # machine's speed (a shared VM) weighs on both sides of the ratio alike. Not row by row:
        # the two processes' ONNX Runtime thread pools would then fight over the 2 cores.
        whole.clear()
        server_timing.clear()
        for samples in in_order.values():
            samples.clear()
        for block in range(0, n, BLOCK):
            for i in range(block, min(n, block + BLOCK)):
                post(i)
            for i in range(block, min(n, block + BLOCK)):
                parts(i)
    finally:
        server.terminate()
        server.wait(timeout=30)
    # The same parts each in a loop of its own, after the run (warm caches: a lower bound).
    vectors: list[Any] = []
    isolated = {
        "score + drivers": _time(score_part, n),
        "embed (1 text)": _time(lambda i: vectors.append(embed_part(i)), n),
    }
    predictions = [inference_predict(model=model, rows=[v]) for v in validated]
    isolated["insert (1 record)"] = _time(lambda i: insert_part(i, predictions[i], vectors[i]), n)
    Record.objects.filter(api_key__name=bench_id).delete()

    print(f"embedding backend {settings.EMBEDDING_BACKEND}, threads {settings.EMBEDDING_THREADS}; {n} requests each")
    total = 0.0
    print("  parts in request order (score, embed, insert per row), alternating with the requests:")
    for name, samples in in_order.items():
        p50, p99 = _percentiles(samples)
        total += p50
        print(f"    {name:18s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    print(f"    sum of p50s        {total:7.2f} ms   (goal <= 15 ms)")
    p50, p99 = _percentiles(whole)
    print(f"  whole POST /api/predict/ through gunicorn (1 worker, 1 client, ready in {ready_after:.1f} s):")
    print(f"                         p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    print(f"  ratio whole / sum of parts {p50 / total:.2f} (goal <= 1.3)")
    print("  inside the worker (its Server-Timing header), p50:")
    worker = {name: _percentiles(server_timing[name])[0] for name in ("app", "score", "embed", "insert")}
    for name, label in (
        ("app", "all of Django"),
        ("score", "score + drivers"),
        ("embed", "embed"),
        ("insert", "insert"),
    ):
        print(f"    {label:18s} {worker[name]:7.2f} ms")
    work = worker["score"] + worker["embed"] + worker["insert"]
    print(f"    whole minus these parts: {p50 - work:.2f} ms (HTTP, gunicorn, middleware, DRF, auth, throttle)")
    print(f"    whole / these parts {p50 / work:.2f} (the same requests' own parts: no cross-process noise)")
    print("  parts each in a loop of its own, after the run (warm caches):")
    isolated_total = 0.0
    for name, samples in isolated.items():
        part50, part99 = _percentiles(samples)
        isolated_total += part50
        print(f"    {name:18s} p50 {part50:7.2f} ms   p99 {part99:7.2f} ms")
    print(f"    sum of p50s        {isolated_total:7.2f} ms; whole / this sum {p50 / isolated_total:.2f}")


if __name__ == "__main__":
    main()

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


class _Parts:
    """The request's work in-process, one part at a time: score + drivers, one embed, one insert."""

    names = ("score + drivers", "embed (1 text)", "insert (1 record)")

    def __init__(self, n: int, bench_id: str) -> None:
        from accounts.services import api_key_create
        from predictions.embedding_runtime import embedder_get
        from predictions.inference import inference_predict, inference_validate
        from predictions.ml.features import decode_row, encode_frame
        from predictions.ml.training import read_training_csv
        from predictions.selectors import loaded_model_get

        self.model = loaded_model_get(name="credit")
        embedder_get().encode(["warm up"])
        frame = read_training_csv(ROOT / "data" / "german_credit.csv").drop(columns=["creditability"])
        rows = [decode_row(self.model.schema, r) for r in encode_frame(frame, self.model.schema)]
        self.feats = [rows[i % len(rows)] for i in range(n)]
        self.validated = [inference_validate(model=self.model, features=f) for f in self.feats]
        for v in self.validated[:20]:  # warm-up
            inference_predict(model=self.model, rows=[v])
        self.api_key, self.key = api_key_create(name=bench_id)
        self.in_order: dict[str, list[float]] = {name: [] for name in self.names}

    def score(self, i: int) -> Any:
        from predictions.inference import inference_predict, inference_validate

        return inference_predict(model=self.model, rows=[inference_validate(model=self.model, features=self.feats[i])])

    def embed(self, i: int) -> Any:
        from predictions.embedding_runtime import embed_rows

        return embed_rows(model=self.model, rows=[self.validated[i]])

    def insert(self, i: int, prediction: Any, vector: Any) -> Any:
        from records.services import RecordOrigin, record_create_many, records_build

        # As a request stores it: its own row and vector (the HNSW insert of a new vector costs
        # more than re-inserting one already in the graph), its request id, and the client's user
        # and API key (each a foreign key that PostgreSQL checks).
        origin = RecordOrigin(request_id=uuid.uuid4().hex, created_by=self.api_key.user, api_key=self.api_key)
        return record_create_many(
            records=records_build(
                model=self.model, rows=[self.validated[i]], predictions=prediction, embeddings=vector, origin=origin
            )
        )

    def in_request_order(self, i: int) -> None:
        # Each step timed in the CPU-cache state it has inside a request (the embed's weights evict
        # the insert's working set).
        t0 = time.perf_counter()
        prediction = self.score(i)
        t1 = time.perf_counter()
        vector = self.embed(i)
        t2 = time.perf_counter()
        self.insert(i, prediction, vector)
        t3 = time.perf_counter()
        for name, took in zip(self.names, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            self.in_order[name].append(took)

    def isolated(self, n: int) -> dict[str, list[float]]:
        """The same parts each in a loop of its own (warm caches: a lower bound)."""
        from predictions.inference import inference_predict

        vectors: list[Any] = []
        out = {self.names[0]: _time(self.score, n), self.names[1]: _time(lambda i: vectors.append(self.embed(i)), n)}
        predictions = [inference_predict(model=self.model, rows=[v]) for v in self.validated]
        out[self.names[2]] = _time(lambda i: self.insert(i, predictions[i], vectors[i]), n)
        return out


class _Whole:
    """One keep-alive client posting the same rows; keeps each answer's time and Server-Timing."""

    def __init__(self, port: int, key: str, feats: list[dict[str, Any]]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
        self.feats = feats
        self.times: list[float] = []
        self.server_timing: dict[str, list[float]] = {}

    def post(self, i: int) -> None:
        start = time.perf_counter()
        body = json.dumps({"model": "credit", "features": self.feats[i]})
        self.conn.request("POST", "/api/predict/", body, self.headers)
        response = self.conn.getresponse()
        response.read()
        self.times.append(time.perf_counter() - start)
        if response.status != 201:
            raise RuntimeError(f"status {response.status}")
        for part in response.getheader("Server-Timing", "").split(","):
            name, _, value = part.strip().partition(";dur=")
            self.server_timing.setdefault(name, []).append(float(value) / 1000)


def _alternate(whole: _Whole, parts: _Parts, n: int) -> None:
    """Blocks of requests alternating with the same rows' parts, so that drift in the machine's speed
    (a shared VM) weighs on both sides of the ratio alike. Not row by row: the two processes' ONNX
    Runtime thread pools would then fight over the 2 cores."""
    for i in range(20):
        whole.post(i)
        parts.in_request_order(i)
    whole.times.clear()
    whole.server_timing.clear()
    for samples in parts.in_order.values():
        samples.clear()
    for block in range(0, n, BLOCK):
        for i in range(block, min(n, block + BLOCK)):
            whole.post(i)
        for i in range(block, min(n, block + BLOCK)):
            parts.in_request_order(i)


def _report(parts: _Parts, whole: _Whole, isolated: dict[str, list[float]], ready_after: float) -> None:
    from django.conf import settings

    n = len(whole.times)
    print(f"embedding backend {settings.EMBEDDING_BACKEND}, threads {settings.EMBEDDING_THREADS}; {n} requests each")
    total = 0.0
    print("  parts in request order (score, embed, insert per row), alternating with the requests:")
    for name, samples in parts.in_order.items():
        p50, p99 = _percentiles(samples)
        total += p50
        print(f"    {name:18s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    print(f"    sum of p50s        {total:7.2f} ms   (goal <= 15 ms)")
    p50, p99 = _percentiles(whole.times)
    print(f"  whole POST /api/predict/ through gunicorn (1 worker, 1 client, ready in {ready_after:.1f} s):")
    print(f"                         p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    print(f"  ratio whole / sum of parts {p50 / total:.2f} (goal <= 1.3)")
    print("  inside the worker (its Server-Timing header), p50:")
    worker = {name: _percentiles(whole.server_timing[name])[0] for name in ("app", "score", "embed", "insert")}
    labels = {"app": "all of Django", "score": "score + drivers", "embed": "embed", "insert": "insert"}
    for name, label in labels.items():
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
    from records.models import Record

    bench_id = f"bench-{uuid.uuid4().hex[:8]}"
    parts = _Parts(args.requests, bench_id)
    env = dict(os.environ, GUNICORN_WORKERS="1", GUNICORN_BIND=f"127.0.0.1:{args.port}")
    env["API_THROTTLE_RATE"] = "100000/min"
    server = start_gunicorn(env)
    try:
        ready_after = _ready(args.port, time.perf_counter())
        whole = _Whole(args.port, parts.key, parts.feats)
        _alternate(whole, parts, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    isolated = parts.isolated(args.requests)
    Record.objects.filter(api_key__name=bench_id).delete()
    _report(parts, whole, isolated, ready_after)


if __name__ == "__main__":
    main()

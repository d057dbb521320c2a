"""Benchmark POST /api/predict/: its parts in-process, and the whole request through gunicorn on loopback.

Usage: .venv/bin/python -m bench.predict [--requests 300] [--port 8765] [--threads N]

Uses the configured database (the embedded PostgreSQL by default), after `manage.py bootstrap`.
Parts, each over the same rows: score + drivers (validation, predict, explain), one embed, one
record insert. Whole: one keep-alive client sending requests one after another to a 1-worker
gunicorn started by this script. Prints p50/p99 of each and the ratio goal (whole p50 <= 1.3 x sum).
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

ROOT = Path(__file__).resolve().parent.parent


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
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskengine.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from accounts.services import api_key_create
    from bench.gunicorn import _ready, start_gunicorn
    from predictions.embedder import embed_rows, embedder_get
    from predictions.inference import inference_predict, inference_validate
    from predictions.ml.features import decode_row, encode_frame
    from predictions.ml.training import read_training_csv
    from predictions.selectors import loaded_model_get
    from records.models import Record
    from records.services import record_create_many

    call_command("bootstrap", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    model = loaded_model_get(name="credit")
    embedder_get().encode(["warm up"])
    frame = read_training_csv(ROOT / "data" / "german_credit.csv").drop(columns=["creditability"])
    rows = [decode_row(model.schema, r) for r in encode_frame(frame, model.schema)]
    n = args.requests
    feats = [rows[i % len(rows)] for i in range(n)]

    validated = [inference_validate(model=model, features=f) for f in feats]
    predictions = [inference_predict(model=model, rows=[v])[0] for v in validated[:20]]  # warm-up
    score = _time(
        lambda i: inference_predict(model=model, rows=[inference_validate(model=model, features=feats[i])]), n
    )
    embed = _time(lambda i: embed_rows(model=model, rows=[validated[i]]), n)
    vectors = embed_rows(model=model, rows=validated[:1])
    predictions = inference_predict(model=model, rows=validated[:1])
    bench_id = f"bench-{uuid.uuid4().hex[:8]}"
    insert = _time(
        lambda i: record_create_many(
            model=model, rows=validated[:1], predictions=predictions, embeddings=vectors, request_id=bench_id
        ),
        n,
    )
    Record.objects.filter(request_id=bench_id).delete()

    _, key = api_key_create(name=bench_id)
    env = dict(os.environ, GUNICORN_WORKERS="1", GUNICORN_THREADS="1", GUNICORN_BIND=f"127.0.0.1:{args.port}")
    env["API_THROTTLE_RATE"] = "100000/min"
    server = start_gunicorn(env)
    try:
        ready_after = _ready(args.port, time.perf_counter())
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}

        server_side: list[float] = []
        server_embed: list[float] = []

        def post(i: int) -> None:
            conn.request("POST", "/api/predict/", json.dumps({"model": "credit", "features": feats[i]}), headers)
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                raise RuntimeError(f"status {response.status}")
            timing = dict(
                part.strip().split(";dur=") for part in response.getheader("Server-Timing", "app;dur=0").split(",")
            )
            server_side.append(float(timing["app"]) / 1000)
            server_embed.append(float(timing.get("embed", 0)) / 1000)

        for i in range(20):
            post(i)
        server_side.clear()
        server_embed.clear()
        whole = _time(post, n)
    finally:
        server.terminate()
        server.wait(timeout=30)
    Record.objects.filter(api_key__name=bench_id).delete()

    parts = {"score + drivers": score, "embed (1 text)": embed, "insert (1 record)": insert}
    print(f"embedding backend {settings.EMBEDDING_BACKEND}, threads {settings.EMBEDDING_THREADS}; {n} requests each")
    total = 0.0
    for name, samples in parts.items():
        p50, p99 = _percentiles(samples)
        total += p50
        print(f"  part {name:18s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    p50, p99 = _percentiles(whole)
    print(f"  sum of parts' p50      {total:7.2f} ms   (goal <= 15 ms)")
    print(f"  whole POST /api/predict/ through gunicorn (1 worker, 1 client, ready in {ready_after:.1f} s):")
    print(f"                         p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   ratio {p50 / total:.2f} (goal <= 1.3)")
    app50, app99 = _percentiles(server_side)
    print(f"  of which inside Django (Server-Timing)  p50 {app50:7.2f} ms   p99 {app99:7.2f} ms")
    embed50, _ = _percentiles(server_embed)
    print(f"  of which the embed, in the worker         p50 {embed50:7.2f} ms")


if __name__ == "__main__":
    main()

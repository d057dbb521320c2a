"""Benchmark POST /api/predict/: its parts in-process, and the whole request as a client sees it.

Usage: .venv/bin/python -m bench.predict [--requests 300] [--embedder tabular|text] [--port 8765]

Three processes, never busy at the same time: this one is a plain HTTP client (no Django, no
model); a 1-worker gunicorn (production settings, DEBUG off) serves; a parts worker (Django set up
as the server's) times the request's parts in-process over the same rows, in request order: score +
drivers (validation, predict, explain), one embed, one record insert. Blocks of 25 requests
alternate with the same rows' parts, so the machine's drift weighs on both alike, and the parts
worker waits on its pipe (no CPU) while the requests run.

Prints p50/p99 of each, the ratio goal (whole p50 <= 1.3 x sum of the parts' p50s), the worker's
own Server-Timing breakdown, the CPU seconds per request of the gunicorn worker and PostgreSQL,
and a check against a separate plain client process (``python -m bench.client``) run on the same
server: its p50 should match this client's.

The model is ``bench-<embedder>``, trained from data/german_credit.csv once (the demo model keeps
whatever embedder it was registered with).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

import psutil

from bench.client import cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 25
NAMES = ("score + drivers", "embed (1 row)", "insert (1 record)")


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


# --- the parts worker (a child process with Django) -----------------------------------------


class _Parts:
    """The request's work in-process, one part at a time: score + drivers, one embed, one insert."""

    def __init__(self, n: int, bench_id: str, embedder: str) -> None:
        from accounts.services import api_key_create
        from predictions.inference import inference_predict, inference_validate
        from predictions.ml.features import decode_row, encode_frame
        from predictions.ml.training import read_training_csv
        from predictions.selectors import loaded_model_get

        self.model = loaded_model_get(name=_model_ensure(embedder))
        frame = read_training_csv(ROOT / "data" / "german_credit.csv").drop(columns=["creditability"])
        rows = [decode_row(self.model.schema, r) for r in encode_frame(frame, self.model.schema)]
        self.feats = [rows[i % len(rows)] for i in range(n)]
        self.validated = [inference_validate(model=self.model, features=f) for f in self.feats]
        self.api_key, self.key = api_key_create(name=bench_id)
        self.encodings: dict[int, Any] = {}
        for i, v in enumerate(self.validated[:20]):  # warm-up
            self.insert(i, inference_predict(model=self.model, rows=[v]), self.embed(i))
        self.in_order: dict[str, list[float]] = {name: [] for name in NAMES}

    def score(self, i: int) -> Any:
        from predictions.inference import inference_encode, inference_predict, inference_validate

        rows = [inference_validate(model=self.model, features=self.feats[i])]
        self.encodings[i] = inference_encode(model=self.model, rows=rows)  # the embed part reuses it, as a request does
        return inference_predict(model=self.model, rows=rows, encoded=self.encodings[i])

    def embed(self, i: int) -> Any:
        from predictions.embedding_runtime import embed_rows

        return embed_rows(model=self.model, rows=[self.validated[i]], encoded=self.encodings.pop(i, None))

    def encodes_per_request(self) -> int:
        """How often one prediction encodes its row (the score and the tabular embedding share one)."""
        from predictions.ml import features
        from records.prediction import prediction_create_one

        with (
            patch.object(features, "encode", wraps=features.encode) as by_features,
            patch("predictions.ml.scoring.encode", wraps=features.encode) as by_scoring,
        ):
            record = prediction_create_one(model=self.model, features=self.feats[0], api_key=self.api_key)
        record.delete()
        return by_features.call_count + by_scoring.call_count

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
        # Each step timed in the CPU-cache state it has inside a request.
        t0 = time.perf_counter()
        prediction = self.score(i)
        t1 = time.perf_counter()
        vector = self.embed(i)
        t2 = time.perf_counter()
        self.insert(i, prediction, vector)
        t3 = time.perf_counter()
        for name, took in zip(NAMES, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            self.in_order[name].append(took)

    def isolated(self, n: int) -> dict[str, list[float]]:
        """The same parts each in a loop of its own (warm caches: a lower bound)."""
        from predictions.inference import inference_predict

        vectors: list[Any] = []
        out = {NAMES[0]: _time(self.score, n)}
        out[NAMES[1]] = _time(lambda i: vectors.append(self.embed(i)), n)  # each on its row's encoding
        predictions = [inference_predict(model=self.model, rows=[v]) for v in self.validated]
        out[NAMES[2]] = _time(lambda i: self.insert(i, predictions[i], vectors[i]), n)
        return out


def _model_ensure(embedder: str) -> str:
    """``bench-<embedder>`` in production, trained from the demo data the first time."""
    from predictions.models import ModelVersion
    from predictions.services import model_version_train

    name = f"bench-{embedder}"
    if not ModelVersion.objects.filter(name=name, status=ModelVersion.Status.PRODUCTION).exists():
        model_version_train(
            csv_path=ROOT / "data" / "german_credit.csv",
            target="creditability",
            positive="bad",
            name=name,
            embedder=embedder,
            promote=True,
        )
    return name


def _worker(args: argparse.Namespace) -> None:
    """The parts process: announces the model, key and rows, then runs the blocks it is sent."""
    from bench.gunicorn import setup_django

    setup_django(production=True)
    from records.models import Record

    bench_id = f"bench-{uuid.uuid4().hex[:8]}"
    parts = _Parts(args.requests, bench_id, args.embedder)
    production = {name: os.environ[name] for name in ("DEBUG", "SECRET_KEY", "JWT_SIGNING_KEY", "SECURE_SSL_REDIRECT")}
    hello = {"model": parts.model.name, "key": parts.key, "feats": parts.feats, "pg_pid": _postgres_pid()}
    _say({**hello, "production": production})
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "block":
            for i in range(command["start"], command["stop"]):
                parts.in_request_order(i)
            _say({"done": True})
        elif command["do"] == "clear":
            for samples in parts.in_order.values():
                samples.clear()
            _say({"done": True})
        elif command["do"] == "finish":
            isolated = parts.isolated(args.requests)
            encodes = parts.encodes_per_request()
            Record.objects.filter(api_key__name=bench_id).delete()
            _say({"in_order": parts.in_order, "isolated": isolated, "encodes": encodes})
            return


_MARK = "@bench "  # the worker's answers, apart from anything else that writes to its stdout


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(_MARK + json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


def _postgres_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    return int(psutil.Process(backend).ppid())


# --- the client (this process: no Django) ---------------------------------------------------


class _Whole:
    """One keep-alive client posting the same rows; keeps each answer's time and Server-Timing."""

    def __init__(self, port: int, key: str, model: str, feats: list[dict[str, Any]]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
        self.bodies = [json.dumps({"model": model, "features": f}) for f in feats]
        self.times: list[float] = []
        self.server_timing: dict[str, list[float]] = {}

    def post(self, i: int) -> None:
        start = time.perf_counter()
        self.conn.request("POST", "/api/predict/", self.bodies[i], self.headers)
        response = self.conn.getresponse()
        response.read()
        self.times.append(time.perf_counter() - start)
        if response.status != 201:
            raise RuntimeError(f"status {response.status}")
        for part in response.getheader("Server-Timing", "").split(","):
            name, _, value = part.strip().partition(";dur=")
            self.server_timing.setdefault(name, []).append(float(value) / 1000)


class _Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        command = [sys.executable, "-m", "bench.predict", "--worker", "--requests", str(args.requests)]
        command += ["--embedder", args.embedder]
        self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, message: dict[str, Any] | None = None) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        if message is not None:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        while line := self.process.stdout.readline():
            if line.startswith(_MARK):
                return json.loads(line[len(_MARK) :])
        raise RuntimeError("the parts worker ended")


def _alternate(whole: _Whole, worker: _Worker, n: int, watched: Callable[[], list[psutil.Process]]) -> float:
    """Blocks of requests alternating with the same rows' parts. Returns the CPU seconds the
    watched processes (gunicorn, PostgreSQL) spent during the request blocks."""
    for i in range(20):
        whole.post(i)
    worker.ask({"do": "block", "start": 0, "stop": 20})
    worker.ask({"do": "clear"})
    whole.times.clear()
    whole.server_timing.clear()
    cpu = 0.0
    for block in range(0, n, BLOCK):
        stop = min(n, block + BLOCK)
        before = cpu_seconds(watched())
        for i in range(block, stop):
            whole.post(i)
        cpu += cpu_seconds(watched()) - before
        worker.ask({"do": "block", "start": block, "stop": stop})
    return cpu


def _external(port: int, key: str, model: str, feats: list[dict[str, Any]], seconds: float) -> float:
    """p50 (ms) of a separate plain client process (bench.client) on the same server."""
    body = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-predict-{os.getpid()}.json"
    body.write_text(json.dumps({"model": model, "features": feats[0]}))
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.client", "--port", str(port), "--key", key, "--body", str(body),
             "--seconds", str(seconds)],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=seconds + 60,
        )  # fmt: skip
    finally:
        body.unlink(missing_ok=True)
    return float(json.loads(out.stdout)["p50_ms"])


def _report(parts: dict[str, Any], whole: _Whole, cpu: float, external: float, args: argparse.Namespace) -> None:
    n = len(whole.times)
    print(f"model bench-{args.embedder}; {n} requests each")
    total = 0.0
    print("  parts in request order (score, embed, insert per row), alternating with the requests:")
    for name, samples in parts["in_order"].items():
        p50, p99 = _percentiles(samples)
        total += p50
        print(f"    {name:18s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    print(f"    sum of p50s        {total:7.2f} ms")
    p50, p99 = _percentiles(whole.times)
    print("  whole POST /api/predict/ through gunicorn (1 worker, 1 keep-alive client, another process):")
    print(f"                         p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    print(f"  ratio whole / sum of parts {p50 / total:.2f} (goal <= 1.3)")
    print(f"  check: a separate plain client (bench.client), same server: p50 {external:.2f} ms, "
          f"this client / that one {p50 / external:.2f}")  # fmt: skip
    print(f"  CPU per request, gunicorn worker + PostgreSQL: {cpu / n * 1000:.2f} ms")
    print(f"  the row is encoded {parts['encodes']} time(s) per request (score and {args.embedder} embedding)")
    print("  inside the worker (its Server-Timing header), p50:")
    worker = {name: _percentiles(whole.server_timing[name])[0] for name in ("app", "score", "embed", "insert")}
    labels = {"app": "all of Django", "score": "score + drivers", "embed": "embed", "insert": "insert"}
    for name, label in labels.items():
        print(f"    {label:18s} {worker[name]:7.2f} ms")
    work = worker["score"] + worker["embed"] + worker["insert"]
    print(f"    whole minus these parts: {p50 - work:.2f} ms (HTTP, gunicorn, middleware, DRF, auth, throttle)")
    print("  parts each in a loop of its own, after the run (warm caches):")
    isolated_total = 0.0
    for name, samples in parts["isolated"].items():
        part50, part99 = _percentiles(samples)
        isolated_total += part50
        print(f"    {name:18s} p50 {part50:7.2f} ms   p99 {part99:7.2f} ms")
    print(f"    sum of p50s        {isolated_total:7.2f} ms; whole / this sum {p50 / isolated_total:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--embedder", choices=("tabular", "text"), default="tabular")
    parser.add_argument("--check-seconds", type=float, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    from bench.gunicorn import _ready, start_gunicorn

    worker = _Worker(args)
    hello = worker.ask()
    env = dict(os.environ, GUNICORN_WORKERS="1", GUNICORN_BIND=f"127.0.0.1:{args.port}")
    env["API_THROTTLE_RATE"] = "100000/min"
    server = start_gunicorn(env, production=hello["production"])
    postgres = psutil.Process(hello["pg_pid"])
    master = psutil.Process(server.pid)
    try:
        _ready(args.port, time.perf_counter())
        whole = _Whole(args.port, hello["key"], hello["model"], hello["feats"])
        cpu = _alternate(whole, worker, args.requests, lambda: [*master.children(), *postgres.children()])
        external = _external(args.port, hello["key"], hello["model"], hello["feats"], args.check_seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    parts = worker.ask({"do": "finish"})
    worker.process.wait(timeout=60)
    _report(parts, whole, cpu, external, args)


if __name__ == "__main__":
    main()

"""Two commits' request path side by side: is a change slower for a client?

Usage: .venv/bin/python -m bench.commits BASE [HEAD] [--rounds 2] [--seconds 30] [--port 8767]
       [--model credit | --embedder tabular|text]

Each commit is exported (``git archive``) to a temporary directory and served in turn by a fresh
1-worker gunicorn with production settings, against the same database and model artifacts (the
configured ones), alternating BASE, HEAD, BASE, HEAD, ... so the machine's drift weighs on both
alike. One keep-alive client (``bench.client``) posts the demo rows to /api/predict/ one after
another for ``--seconds`` per round, after a warm-up (``--embedder``: to ``bench-<embedder>``, the
model bench.predict trains). Prints each round's p50/p99 and CPU seconds per request (the gunicorn
worker and every PostgreSQL process, over the timed requests) and, over all rounds, each commit's
medians and the ratios HEAD / BASE. Each commit runs with its own defaults (no .env file).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil

from bench.client import Request, cpu_seconds, keep_alive_load, percentile

ROOT = Path(__file__).resolve().parent.parent
WARM_UP_SECONDS = 5.0


def _export(commit: str, into: Path) -> str:
    """The commit's tree under ``into``; returns its short hash."""
    short = subprocess.run(
        ["git", "rev-parse", "--short", commit], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", short], cwd=ROOT, check=True, capture_output=True)
    into.mkdir(parents=True)
    with tempfile.TemporaryFile() as tar_file:
        tar_file.write(archive.stdout)
        tar_file.seek(0)
        with tarfile.open(fileobj=tar_file) as tar:
            tar.extractall(into, filter="data")
    return short


def _round(
    root: Path, port: int, seconds: float, request: Callable[[int], Request], postgres: psutil.Process
) -> tuple[list[float], float]:
    """Serve ``root`` and time one keep-alive client for ``seconds`` (after a warm-up). Returns the
    latencies and the CPU seconds per request of the worker and PostgreSQL."""
    from bench.gunicorn import _ready, start_gunicorn

    env = dict(os.environ, GUNICORN_WORKERS="1", GUNICORN_BIND=f"127.0.0.1:{port}", API_THROTTLE_RATE="1000000/min")
    server = start_gunicorn(env, root=root)
    try:
        _ready(port, time.perf_counter())
        for wanted in (WARM_UP_SECONDS, seconds):
            watched = [*psutil.Process(server.pid).children(), *postgres.children()]
            before = cpu_seconds(watched)
            tally, threads, _ = keep_alive_load(port=port, clients=1, seconds=wanted, request=request, expect=201)
            threads[0].join()
            cpu = cpu_seconds(watched) - before
            if tally.ok == 0 or tally.ok != sum(tally.statuses.values()):
                raise RuntimeError(f"{root}: answers {dict(tally.statuses)}")
        return tally.latencies, cpu / tally.ok
    finally:
        server.terminate()
        server.wait(timeout=30)


def _predict_request(model: str) -> tuple[str, Callable[[int], Request]]:
    """A fresh API key's name, and the i-th request: the i-th demo row posted with that key."""
    from accounts.services import api_key_create
    from bench.gunicorn import _features

    bench_id = f"bench-commits-{uuid.uuid4().hex[:6]}"
    _, key = api_key_create(name=bench_id)
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
    feats = _features(model)

    def predict(i: int) -> Request:
        return "POST", "/api/predict/", json.dumps({"model": model, "features": feats[i % len(feats)]}), headers

    return bench_id, predict


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("head", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--port", type=int, default=8767)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", default="credit")
    which.add_argument("--embedder", choices=("tabular", "text"))
    args = parser.parse_args()
    os.environ["RISKENGINE_ENV_FILE"] = "none"
    os.environ.setdefault("RISKENGINE_DATA_DIR", str(ROOT / ".data"))  # both commits share it
    from bench.gunicorn import setup_django

    setup_django(production=True)
    from bench.predict import _model_ensure, _postgres_pid
    from records.models import Record

    model = _model_ensure(args.embedder) if args.embedder else args.model
    bench_id, predict = _predict_request(model)
    postgres = psutil.Process(_postgres_pid())
    with tempfile.TemporaryDirectory() as scratch:
        trees = {_export(commit, Path(scratch) / name): Path(scratch) / name for name, commit in
                 (("base", args.base), ("head", args.head))}  # fmt: skip
        samples: dict[str, list[float]] = {commit: [] for commit in trees}
        cpus: dict[str, list[float]] = {commit: [] for commit in trees}
        print(f"model {model}, 1 keep-alive client, 1 gunicorn worker, production settings, "
              f"{args.seconds:.0f} s a round:")  # fmt: skip
        for round_number in range(args.rounds):
            for commit, root in trees.items():
                latencies, cpu = _round(root, args.port, args.seconds, predict, postgres)
                samples[commit] += latencies
                cpus[commit].append(cpu)
                p50, p99 = statistics.median(latencies) * 1000, percentile(latencies, 0.99)
                print(f"  round {round_number + 1} {commit}: {len(latencies)} requests, p50 {p50:.2f} ms, "
                      f"p99 {p99:.2f} ms, CPU per request {cpu * 1000:.2f} ms", flush=True)  # fmt: skip
    Record.objects.filter(api_key__name=bench_id).delete()
    (base, base_samples), (head, head_samples) = samples.items()
    base_p50, head_p50 = statistics.median(base_samples) * 1000, statistics.median(head_samples) * 1000
    base_cpu, head_cpu = statistics.median(cpus[base]) * 1000, statistics.median(cpus[head]) * 1000
    print(f"  all rounds: {base} p50 {base_p50:.2f} ms, {head} p50 {head_p50:.2f} ms, ratio {head_p50 / base_p50:.3f}")
    print(f"  CPU per request (median of rounds): {base} {base_cpu:.2f} ms, {head} {head_cpu:.2f} ms, "
          f"ratio {head_cpu / base_cpu:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()

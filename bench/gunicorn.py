"""The --preload benchmark: 2 gunicorn workers, preload on/off x threads 1, 2, 4.

Usage: .venv/bin/python -m bench.gunicorn [--seconds 15] [--clients 8]

For each configuration: total RSS of master + workers once ready, start-up time until /readyz
answers 200, and POST /api/predict/ throughput and p50/p99 under a bounded loopback load
(``--clients`` keep-alive clients for ``--seconds``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from bench.client import Request, keep_alive_load, percentile

ROOT = Path(__file__).resolve().parent.parent


def _features(name: str = "credit") -> list[dict[str, Any]]:
    """The demo rows as the production ``name`` model reads them (its features only: a version
    trained with protected attributes has fewer)."""
    from predictions.ml.features import decode_row, encode_frame, schema_from_dicts
    from predictions.ml.training import read_training_csv
    from predictions.selectors import model_version_get_production

    frame = read_training_csv(ROOT / "data" / "german_credit.csv").drop(columns=["creditability"])
    schema = schema_from_dicts(model_version_get_production(name=name).feature_schema)
    return [decode_row(schema, row) for row in encode_frame(frame, schema)]


def _production_settings(*, jwt_signing_key: str) -> dict[str, str]:
    """DEBUG off, a throwaway secret key, and plain HTTP on loopback (in production TLS ends at the
    proxy, which sets X-Forwarded-Proto)."""
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SIGNING_KEY": jwt_signing_key,
        "SECURE_SSL_REDIRECT": "0",
    }


def setup_django(*, production: bool = False) -> None:
    """Django set up for a benchmark process, and the demo model bootstrapped. DEBUG is on unless
    ``production``: then the process runs the settings its gunicorn workers run (``production_env``),
    for parts timed in-process that are compared with requests."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskengine.settings")
    if production:
        os.environ.update(_production_settings(jwt_signing_key=secrets.token_urlsafe(50)))
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("bootstrap", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115


def _ready(port: int, started: float, timeout: float = 180) -> float:
    while time.perf_counter() - started < timeout:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("gunicorn did not become ready")


def production_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with production settings (``_production_settings``). Tokens minted by the calling
    process stay valid: it shares that process's JWT signing key."""
    from django.conf import settings

    return {**env, **_production_settings(jwt_signing_key=str(settings.SIMPLE_JWT["SIGNING_KEY"]))}


def start_gunicorn(
    env: dict[str, str], *, root: Path = ROOT, production: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """gunicorn with the project's gunicorn.conf.py and production settings, quiet; the caller
    terminates it. ``root``: another checkout of the project to serve (its own code and config).
    ``production``: the settings another process set up (``production_settings``), for a caller
    without Django."""
    environ = {**env, **production} if production is not None else production_env(env)
    if (root / "core" / "metrics_dir.py").exists():  # older checkouts prepared it in gunicorn.conf.py
        subprocess.run(
            [sys.executable, "-m", "core.metrics_dir"], cwd=root, env=environ, check=True, capture_output=True
        )
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(root / "gunicorn.conf.py")],
        cwd=root,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def load(port: int, key: str, feats: list[dict[str, Any]], clients: int, seconds: float) -> dict[str, float]:
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}

    def predict(i: int) -> Request:
        return "POST", "/api/predict/", json.dumps({"model": "credit", "features": feats[i % len(feats)]}), headers

    tally, threads, started = keep_alive_load(port=port, clients=clients, seconds=seconds, request=predict, expect=201)
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "rps": tally.ok / elapsed,
        "p50": statistics.median(tally.latencies) * 1000,
        "p99": percentile(tally.latencies, 0.99),
        "errors": sum(tally.statuses.values()) - tally.ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    setup_django()
    from accounts.services import api_key_create

    _, key = api_key_create(name=f"bench-gunicorn-{uuid.uuid4().hex[:6]}")
    feats = _features()
    rows = []
    for preload in ("1", "0"):
        for threads in (1, 2, 4):
            env = dict(
                os.environ,
                GUNICORN_WORKERS="2",
                GUNICORN_THREADS=str(threads),
                GUNICORN_PRELOAD=preload,
                GUNICORN_BIND=f"127.0.0.1:{args.port}",
                API_THROTTLE_RATE="1000000/min",
            )
            started = time.perf_counter()
            server = start_gunicorn(env)
            try:
                ready = _ready(args.port, started)
                load(args.port, key, feats, 2, 2)  # warm both workers
                master = psutil.Process(server.pid)
                procs = [master, *master.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs) / 2**20
                pss = sum(p.memory_full_info().pss for p in procs) / 2**20  # shared pages counted once
                result = load(args.port, key, feats, args.clients, args.seconds)
            finally:
                server.terminate()
                server.wait(timeout=60)
            rows.append((preload, threads, rss, pss, ready, result))
            print(f"preload={preload} threads={threads}: {result}", flush=True)
    print(f"2 workers, {args.clients} clients, {args.seconds:.0f} s each, POST /api/predict/:")
    print("| preload | threads | total RSS | total PSS | ready after | requests/s | p50 | p99 | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for preload, threads, rss, pss, ready, r in rows:
        mode = "on" if preload == "1" else "off"
        print(
            f"| {mode} | {threads} | {rss:.0f} MiB | {pss:.0f} MiB | {ready:.1f} s | {r['rps']:.1f} | "
            f"{r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['errors']:.0f} |"
        )


if __name__ == "__main__":
    main()

"""Load test on loopback, optionally with a database outage in the middle.

Usage:
  .venv/bin/python -m bench.load [--seconds 60] [--clients 16] [--readers 2]
  .venv/bin/python -m bench.load --outage    # stop the embedded PostgreSQL for 10 s at t=20 s
  .venv/bin/python -m bench.load --scanners 8 --seconds 30   # fair sharing (below)

Clients post to /api/predict/ with keep-alive connections while readers page through
/api/records/. Reports throughput, p50/p99, errors, and the capacity goal: throughput against
2 cores / (CPU seconds per request, gunicorn workers + PostgreSQL). With --outage it also reports
what the API answered while the database was down, /readyz, how long recovery took, and whether
the number of stored records equals the number of 201 responses.

With --scanners N: the predict clients run twice on one server, alone and then beside one staff
client that keeps N year-long segment scans (GET /api/monitoring/credit/segments/) going at once;
it reports the predict p99 of both runs and their ratio (goal <= 2: HEAVY_REQUESTS_PER_CLIENT lets
the scanner hold 2 threads, and refuses the rest with 429s), and what the scanner got. Seed the
demo history first (`manage.py seed_demo --history`) so that the scans have records to read.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bench.client import Request, Tally, cpu_seconds, keep_alive_load, percentile

ROOT = Path(__file__).resolve().parent.parent


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--outage", action="store_true")
    parser.add_argument("--outage-at", type=float, default=20)
    parser.add_argument("--outage-for", type=float, default=10)
    parser.add_argument("--scanners", type=int, default=0, help="concurrent segment scans of one staff client")
    return parser.parse_args()


def _outage(args: argparse.Namespace, t0: float) -> dict[str, float]:
    """Stop the embedded PostgreSQL at ``--outage-at`` for ``--outage-for`` seconds; /readyz is asked
    once while it is down."""
    from django.conf import settings

    from core.embedded_pg import ensure_server, stop_server

    time.sleep(max(0.0, t0 + args.outage_at - time.perf_counter()))
    data_dir = Path(settings.RISKENGINE_DATA_DIR)
    stop_server(data_dir)
    down_at = time.perf_counter() - t0
    time.sleep(2)
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    conn.request("GET", "/readyz")
    ready_response = conn.getresponse()
    ready_response.read()
    time.sleep(max(0.0, args.outage_for - 2))
    ensure_server(data_dir, "riskengine")
    up_at = time.perf_counter() - t0
    return {"readyz during outage": ready_response.status, "down at": round(down_at, 1), "up at": round(up_at, 1)}


def _processes(server_pid: int) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """The gunicorn master and workers, and the PostgreSQL server and its backends."""
    from django.conf import settings

    from core.embedded_pg import pgdata_path

    master = psutil.Process(server_pid)
    pg_pid = int((pgdata_path(Path(settings.RISKENGINE_DATA_DIR)) / "postmaster.pid").read_text().split()[0])
    postgres = [psutil.Process(pg_pid), *psutil.Process(pg_pid).children(recursive=True)]
    return [master, *master.children(recursive=True)], postgres


def _report(args: argparse.Namespace, predicts: Tally, reads: Tally, elapsed: float, extra: dict[str, Any]) -> None:
    rps = predicts.ok / elapsed
    print(
        f"{args.clients} predict clients + {args.readers} list readers for {elapsed:.0f} s (gunicorn.conf.py defaults):"
    )
    print(f"  statuses: {dict(predicts.statuses)}")
    p50 = statistics.median(predicts.latencies) * 1000
    print(f"  predict: {rps:.1f} requests/s, p50 {p50:.1f} ms, p99 {percentile(predicts.latencies, 0.99):.1f} ms")
    if reads.latencies:
        print(f"  records list: {reads.ok} reads, p50 {statistics.median(reads.latencies) * 1000:.1f} ms")
    if not args.outage:
        cpu_per_request = extra["cpu"] / max(1, sum(predicts.statuses.values()))
        capacity = 2 / cpu_per_request
        print(
            f"  CPU per request (gunicorn + PostgreSQL): {cpu_per_request * 1000:.1f} ms -> 2 cores allow "
            f"{capacity:.1f} requests/s; achieved {rps / capacity:.0%} (goal >= 80%)"
        )
    else:
        outage = extra["outage"]
        after = sorted(t for t, status in predicts.timeline if status == 201 and t >= outage["up at"])
        recovery = after[0] - outage["up at"] if after else float("nan")
        during = collections.Counter(s for t, s in predicts.timeline if outage["down at"] + 0.5 < t < outage["up at"])
        print(f"  outage: {outage}; statuses while down: {dict(during)}")
        print(f"  first 201 after the database came back: {recovery:.2f} s (goal <= 5 s)")
    print(f"  records stored {extra['stored']} == 201 responses {predicts.ok}: {extra['stored'] == predicts.ok}")


def _requests() -> tuple[Any, Callable[[int], Request], Callable[[int], Request]]:
    """A fresh API key, and the i-th predict request (posted with it) and list request (a staff JWT)."""
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.services import api_key_create
    from bench.gunicorn import _features

    api_key, key = api_key_create(name=f"bench-load-{uuid.uuid4().hex[:6]}")
    staff, _ = get_user_model().objects.get_or_create(username="bench-reader", defaults={"is_staff": True})
    read_headers = {"Authorization": f"Bearer {AccessToken.for_user(staff)}"}
    predict_headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
    feats = _features()

    def predict(i: int) -> Request:
        body = json.dumps({"model": "credit", "features": feats[i % len(feats)]})
        return "POST", "/api/predict/", body, predict_headers

    def read(i: int) -> Request:
        return "GET", "/api/records/?page_size=50", None, read_headers

    return api_key, predict, read


def _scan_request() -> Callable[[int], Request]:
    """The i-th year-long segment scan of one staff client (a JWT of its own)."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    scanner, _ = get_user_model().objects.get_or_create(username="bench-scanner", defaults={"is_staff": True})
    headers = {"Authorization": f"Bearer {AccessToken.for_user(scanner)}"}
    end = timezone.now().date() + timedelta(days=1)
    path = f"/api/monitoring/credit/segments/?start={end - timedelta(days=365)}&end={end}"
    return lambda i: ("GET", path, None, headers)


def fair_share(args: argparse.Namespace, port: int, predict: Callable[[int], Request]) -> None:
    """The predict clients alone, then beside ``--scanners`` concurrent scans of one client."""
    scan = _scan_request()
    alone, threads, _ = keep_alive_load(
        port=port, clients=args.clients, seconds=args.seconds, request=predict, expect=201
    )
    for thread in threads:
        thread.join()
    scans, scanners, _ = keep_alive_load(port=port, clients=args.scanners, seconds=args.seconds, request=scan)
    beside, threads, _ = keep_alive_load(
        port=port, clients=args.clients, seconds=args.seconds, request=predict, expect=201
    )
    for thread in threads + scanners:
        thread.join()
    p99_alone = percentile(alone.latencies, 0.99)
    p99_beside = percentile(beside.latencies, 0.99) if beside.latencies else float("inf")  # none answered
    print(f"{args.clients} predict clients, {args.seconds:.0f} s each run (gunicorn.conf.py defaults):")
    print(f"  alone: {alone.ok / args.seconds:.1f} requests/s, p99 {p99_alone:.1f} ms, statuses {dict(alone.statuses)}")
    print(
        f"  beside {args.scanners} concurrent segment scans of one client: {beside.ok / args.seconds:.1f} requests/s, "
        f"p99 {p99_beside:.1f} ms, statuses {dict(beside.statuses)}"
    )
    print(f"  p99 ratio {p99_beside / p99_alone:.2f} (goal <= 2); the scanner got {dict(scans.statuses)}")


def main() -> None:
    args = _arguments()
    from bench.gunicorn import _ready, setup_django, start_gunicorn

    setup_django()
    from records.models import Record

    api_key, predict, read = _requests()
    env = dict(os.environ, GUNICORN_BIND=f"127.0.0.1:{args.port}", API_THROTTLE_RATE="1000000/min")
    started = time.perf_counter()
    server = start_gunicorn(env)
    extra: dict[str, Any] = {}
    try:
        _ready(args.port, started)
        if args.scanners:
            fair_share(args, args.port, predict)
            return
        measured, postgres = _processes(server.pid)
        cpu_before = cpu_seconds(measured) + cpu_seconds(postgres)
        predicts, threads, t0 = keep_alive_load(
            port=args.port, clients=args.clients, seconds=args.seconds, request=predict, expect=201
        )
        reads, readers, _ = keep_alive_load(
            port=args.port,
            clients=args.readers,
            seconds=args.seconds,
            request=read,
            pause=0.05,
        )
        if args.outage:
            extra["outage"] = _outage(args, t0)
        for thread in threads + readers:
            thread.join()
        elapsed = time.perf_counter() - t0
        measured, _ = _processes(server.pid)
        extra["cpu"] = cpu_seconds(measured) + cpu_seconds(postgres) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=60)
    from django.db import connection

    connection.close()  # this process's own connection did not survive an outage
    extra["stored"] = Record.objects.filter(api_key=api_key).count()
    _report(args, predicts, reads, elapsed, extra)


if __name__ == "__main__":
    main()

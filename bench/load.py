"""Load test on loopback, optionally with a database outage in the middle.

Usage:
  .venv/bin/python -m bench.load [--seconds 60] [--clients 16] [--readers 2]
  .venv/bin/python -m bench.load --outage    # stop the embedded PostgreSQL for 10 s at t=20 s

Clients post to /api/predict/ with keep-alive connections while readers page through
/api/records/. Reports throughput, p50/p99, errors, and the capacity goal: throughput against
2 cores / (CPU seconds per request, gunicorn workers + PostgreSQL). With --outage it also reports
what the API answered while the database was down, /readyz, how long recovery took, and whether
the number of stored records equals the number of 201 responses.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--outage", action="store_true")
    parser.add_argument("--outage-at", type=float, default=20)
    parser.add_argument("--outage-for", type=float, default=10)
    args = parser.parse_args()
    from bench.gunicorn import _features, _ready, setup_django, start_gunicorn

    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.services import api_key_create
    from core.embedded_pg import ensure_server, pgdata_path, stop_server
    from records.models import Record

    api_key, key = api_key_create(name=f"bench-load-{uuid.uuid4().hex[:6]}")
    staff, _ = get_user_model().objects.get_or_create(username="bench-reader", defaults={"is_staff": True})
    reader_token = str(AccessToken.for_user(staff))
    feats = _features()
    env = dict(os.environ, GUNICORN_BIND=f"127.0.0.1:{args.port}", API_THROTTLE_RATE="1000000/min")
    started = time.perf_counter()
    server = start_gunicorn(env)
    statuses: collections.Counter[str] = collections.Counter()
    created = 0
    latencies: list[float] = []
    read_latencies: list[float] = []
    timeline: list[tuple[float, int]] = []  # (time, status) of predict responses
    lock = threading.Lock()
    try:
        _ready(args.port, started)
        master = psutil.Process(server.pid)
        pg_pid = int((pgdata_path(Path(settings.RISKENGINE_DATA_DIR)) / "postmaster.pid").read_text().split()[0])
        measured = [master, *master.children(recursive=True)]
        postgres = [psutil.Process(pg_pid), *psutil.Process(pg_pid).children(recursive=True)]
        cpu_before = _cpu_seconds(measured) + _cpu_seconds(postgres)
        t0 = time.perf_counter()
        deadline = t0 + args.seconds

        def predictor(offset: int) -> None:
            nonlocal created
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
            headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
            i = offset
            while time.perf_counter() < deadline:
                body = json.dumps({"model": "credit", "features": feats[i % len(feats)]})
                start = time.perf_counter()
                try:
                    conn.request("POST", "/api/predict/", body, headers)
                    response = conn.getresponse()
                    payload = response.read()
                    status = response.status
                    kind = str(status)
                    if status >= 500 and not payload.startswith(b"{"):
                        kind = f"{status}-not-json"
                    if status == 503 and response.getheader("Retry-After") is None:
                        kind = "503-no-retry-after"
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
                    status, kind = 0, "connection-error"
                elapsed = time.perf_counter() - start
                with lock:
                    statuses[kind] += 1
                    timeline.append((start - t0, status))
                    if status == 201:
                        created += 1
                        latencies.append(elapsed)
                i += args.clients

        def reader() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
            headers = {"Authorization": f"Bearer {reader_token}"}
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    conn.request("GET", "/api/records/?page_size=50", headers=headers)
                    response = conn.getresponse()
                    response.read()
                    if response.status == 200:
                        with lock:
                            read_latencies.append(time.perf_counter() - start)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
                time.sleep(0.05)

        threads = [threading.Thread(target=predictor, args=(n,)) for n in range(args.clients)]
        threads += [threading.Thread(target=reader) for _ in range(args.readers)]
        for thread in threads:
            thread.start()
        outage: dict[str, object] = {}
        if args.outage:
            time.sleep(max(0.0, t0 + args.outage_at - time.perf_counter()))
            data_dir = Path(settings.RISKENGINE_DATA_DIR)
            stop_server(data_dir)
            down_at = time.perf_counter() - t0
            time.sleep(2)
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
            conn.request("GET", "/readyz")
            ready_response = conn.getresponse()
            outage["readyz during outage"] = ready_response.status
            ready_response.read()
            time.sleep(max(0.0, args.outage_for - 2))
            ensure_server(data_dir, "riskengine")
            up_at = time.perf_counter() - t0
            outage.update({"down at": round(down_at, 1), "up at": round(up_at, 1)})
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t0
        cpu_after = _cpu_seconds([master, *master.children(recursive=True)]) + _cpu_seconds(postgres)
    finally:
        server.terminate()
        server.wait(timeout=60)
    from django.db import connection

    connection.close()  # this process's own connection did not survive an outage
    stored = Record.objects.filter(api_key=api_key).count()
    ordered = sorted(latencies)
    rps = created / elapsed
    print(
        f"{args.clients} predict clients + {args.readers} list readers for {elapsed:.0f} s (gunicorn.conf.py defaults):"
    )
    print(f"  statuses: {dict(statuses)}")
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99)] * 1000
    print(f"  predict: {rps:.1f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    if read_latencies:
        reads = sorted(read_latencies)
        print(f"  records list: {len(reads)} reads, p50 {statistics.median(reads) * 1000:.1f} ms")
    if not args.outage:
        cpu_per_request = (cpu_after - cpu_before) / max(1, sum(statuses.values()))
        capacity = 2 / cpu_per_request
        print(
            f"  CPU per request (gunicorn + PostgreSQL): {cpu_per_request * 1000:.1f} ms -> 2 cores allow "
            f"{capacity:.1f} requests/s; achieved {rps / capacity:.0%} (goal >= 80%)"
        )
    else:
        up_at = float(outage["up at"])  # type: ignore[arg-type]
        after = sorted(t for t, status in timeline if status == 201 and t >= up_at)
        recovery = after[0] - up_at if after else float("nan")
        down_at = float(outage["down at"])  # type: ignore[arg-type]
        during = collections.Counter(s for t, s in timeline if down_at + 0.5 < t < up_at)
        print(f"  outage: {outage}; statuses while down: {dict(during)}")
        print(f"  first 201 after the database came back: {recovery:.2f} s (goal <= 5 s)")
    print(f"  records stored {stored} == 201 responses {created}: {stored == created}")


if __name__ == "__main__":
    main()

"""The one load client of the benchmarks: keep-alive HTTP/1.1 connections on loopback, one per
thread, each sending its next request as soon as the last answer is read, until a deadline."""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# (method, path, body, headers) of the i-th request of a client
Request = tuple[str, str, str | None, dict[str, str]]


@dataclass
class Tally:
    """What the clients saw: statuses by kind, latencies of the expected answers, and a timeline."""

    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, of answers with the expected status
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ok(self) -> int:
        return len(self.latencies)


def _kind(response: http.client.HTTPResponse, payload: bytes) -> str:
    """The status, marked when an error answer breaks the API's contract (JSON, Retry-After)."""
    status = response.status
    if status >= 500 and not payload.startswith(b"{"):
        return f"{status}-not-json"
    if status == 503 and response.getheader("Retry-After") is None:
        return "503-no-retry-after"
    return str(status)


@dataclass(frozen=True)
class _Plan:
    port: int
    request: Callable[[int], Request]
    step: int
    expect: int
    started: float
    deadline: float
    pause: float


def _client(plan: _Plan, offset: int, tally: Tally) -> None:
    port = plan.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = offset
    while time.perf_counter() < plan.deadline:
        method, path, body, headers = plan.request(i)
        start = time.perf_counter()
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            payload = response.read()
            status, kind = response.status, _kind(response, payload)
            retry_after = float(response.getheader("Retry-After") or 0) if status == 429 else 0.0
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status, kind, retry_after = 0, "connection-error", 0.0
        elapsed = time.perf_counter() - start
        with tally.lock:
            tally.statuses[kind] += 1
            tally.timeline.append((start - plan.started, status))
            if status == plan.expect:
                tally.latencies.append(elapsed)
        i += plan.step
        if plan.pause or retry_after:  # a refused client waits as its 429 asks, as a real one would
            time.sleep(min(max(plan.pause, retry_after), max(0.0, plan.deadline - time.perf_counter())))


def keep_alive_load(
    *,
    port: int,
    clients: int,
    seconds: float,
    request: Callable[[int], Request],
    expect: int = 200,
    pause: float = 0.0,
) -> tuple[Tally, list[threading.Thread], float]:
    """Start ``clients`` threads (client k sends requests k, k + clients, ...) for ``seconds``,
    each waiting ``pause`` seconds between requests. Returns the tally being filled, the threads
    (join them) and the start time."""
    tally = Tally()
    started = time.perf_counter()
    plan = _Plan(port, request, clients, expect, started, started + seconds, pause)
    threads = [threading.Thread(target=_client, args=(plan, k, tally), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    return tally, threads, started


def cpu_seconds(processes: list[Any]) -> float:
    """User + system CPU seconds of the (psutil) processes so far; one that ended counts 0."""
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile (0..1) of the samples by the nearest-rank rule, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def main() -> None:
    """A plain external client: ``python -m bench.client --port P --key K --body FILE --seconds S``
    posts FILE to /api/predict/ from one keep-alive connection and prints its p50 as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with open(args.body) as handle:
        body = handle.read()
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {args.key}"}
    tally, threads, _ = keep_alive_load(
        port=args.port, clients=1, seconds=args.seconds, request=lambda i: ("POST", "/api/predict/", body, headers),
        expect=201,
    )  # fmt: skip
    for thread in threads:
        thread.join()
    print(json.dumps({"p50_ms": statistics.median(tally.latencies) * 1000, "statuses": dict(tally.statuses)}))


if __name__ == "__main__":
    main()

"""What the two private-internal shortcuts saved, per request, timed in-process.

Usage: .venv/bin/python -m bench.internals [--repeat 5000]

- Django's CONN_HEALTH_CHECKS: the ``SELECT 1`` round trip (``connection.is_usable()``) made before a
  reused connection's first query in a request, against the socket poll that replaced it until
  the private health-check override was removed.
- The access log line (the production JSON formatter, written to /dev/null), now written before
  the response returns instead of after it is sent.
Prints the median and p99 of each, in microseconds, alternating the items in blocks.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import statistics
import time
from collections.abc import Callable


def _poll(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5000)
    args = parser.parse_args()
    from bench.gunicorn import setup_django

    setup_django(production=True)
    from django.conf import settings
    from django.db import connection

    from core.logging import JsonFormatter

    connection.ensure_connection()
    fd = connection.connection.pgconn.socket
    handler = logging.FileHandler(os.devnull)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bench.access")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    extra = {"request_id": "0" * 32, "method": "POST", "path": "/api/predict/", "status": 201,
             "duration_ms": 31.2, "user": "bench"}  # fmt: skip
    items: dict[str, Callable[[], object]] = {
        "health check: SELECT 1 (Django, public)": connection.is_usable,
        "health check: socket poll (the override)": lambda: _poll(fd),
        "access log line (JSON, to /dev/null)": lambda: logger.info("%s %s", "POST", "/api/predict/", extra=extra),
    }
    samples: dict[str, list[float]] = {name: [] for name in items}
    block = max(1, args.repeat // 10)
    for _ in range(10):
        for name, fn in items.items():
            samples[name] += _timed(fn, block)
    print(f"database: {settings.DATABASES['default'].get('HOST') or 'embedded'}; {block * 10} calls each:")
    for name, values in samples.items():
        ordered = sorted(values)
        p99 = ordered[int(len(ordered) * 0.99)]
        print(f"  {name:42s} median {statistics.median(ordered) * 1e6:7.1f} µs   p99 {p99 * 1e6:7.1f} µs")


if __name__ == "__main__":
    main()

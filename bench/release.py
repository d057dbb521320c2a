"""Benchmark the release pipeline's costs on the serving path and the replay rate.

Usage: .venv/bin/python -m bench.release [--requests 200] [--rounds 3] [--seconds 15] [--port 8766]

A 2-worker gunicorn with production settings serves ``bench-text`` and ``bench-tabular`` (trained
from the demo data once, as bench.predict does), each with a challenger: a second version of the
same data. This process sets the release state between blocks (MODEL_REFRESH_SECONDS=1 on the
server) and is otherwise a plain HTTP client. Alternating in one run:
- one client, text embedder: no challenger, then a challenger in shadow (p50 of each block);
- 16 keep-alive clients, tabular embedder (the default): no challenger, then a 50 % canary
  (requests/s of each block).
Then, in this process: the routing decision of a 50 % canary (subject key + hash), and the replay
rate of stored records (read from the database + scores and exact drivers, no embedding).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import time
from typing import Any

from bench.client import keep_alive_load

PAUSE = 2.5  # > MODEL_REFRESH_SECONDS (1 s) on the server: a switch has reached every worker


def _versions(embedder: str) -> tuple[Any, Any]:
    """``bench-<embedder>``'s champion and a challenger (another version of the same data)."""
    from bench.predict import ROOT, _model_ensure
    from predictions.models import ModelVersion
    from predictions.services import model_version_train

    name = _model_ensure(embedder)
    champion = ModelVersion.objects.get(name=name, status="production")
    challenger = ModelVersion.objects.filter(name=name, status="staging").order_by("-version").first()
    if challenger is None:
        challenger = model_version_train(
            csv_path=ROOT / "data" / "german_credit.csv", target="creditability", positive="bad", name=name,
            embedder=embedder,
        )  # fmt: skip
    return champion, challenger


def _set(name: str, challenger: Any, mode: str, percent: float = 0.0) -> None:
    from predictions.models import Release

    if mode == "none":
        Release.objects.update_or_create(name=name, defaults={"challenger": None, "mode": mode, "percent": 0.0})
    else:
        Release.objects.update_or_create(
            name=name, defaults={"challenger": challenger, "mode": mode, "percent": percent}
        )
    time.sleep(PAUSE)


def _one_client(port: int, headers: dict[str, str], name: str, feats: list[dict[str, Any]], n: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for i in range(n + 20):
        body = json.dumps({"model": name, "features": feats[i % len(feats)]})
        started = time.perf_counter()
        conn.request("POST", "/api/predict/", body, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"predict answered {response.status}")
        if i >= 20:  # the first 20 warm the new route
            times.append((time.perf_counter() - started) * 1000)
    conn.close()
    return statistics.median(times)


def _sixteen(port: int, headers: dict[str, str], name: str, feats: list[dict[str, Any]], seconds: float) -> float:
    def request(i: int) -> Any:
        return "POST", "/api/predict/", json.dumps({"model": name, "features": feats[i % len(feats)]}), headers

    tally, threads, started = keep_alive_load(port=port, clients=16, seconds=seconds, request=request, expect=201)
    for thread in threads:
        thread.join()
    return tally.ok / (time.perf_counter() - started)


def _routing(name: str, feats: list[dict[str, Any]]) -> dict[str, float]:
    from predictions.selectors import loaded_model_cache_clear, loaded_route_get
    from records.prediction import subject_key

    loaded_model_cache_clear()
    route = loaded_route_get(name=name)
    rows = feats * 20
    out = {}
    for label, subject in (("by features", None), ("by subject_id", "applicant-123456")):
        started = time.perf_counter()
        for row in rows:
            route.serve(subject_key(row, subject))
        out[label] = (time.perf_counter() - started) / len(rows) * 1000
    return out


def _replay(name: str, champion: Any, challenger: Any, n: int) -> dict[str, float]:
    import numpy as np

    from predictions.inference import inference_predict
    from predictions.selectors import loaded_model_get
    from records.models import Record
    from records.services import RecordOrigin, record_create_many, records_build
    from releases.selectors import rows_replay, stored_rows_get

    model = loaded_model_get(model_id=champion.model_id)
    have = Record.objects.filter(model_version=champion).count()
    if have < n:
        from bench.gunicorn import _features

        feats = _features()
        for start in range(have, n, 1000):
            rows = [feats[i % len(feats)] for i in range(start, min(n, start + 1000))]
            built = records_build(model=model, rows=rows, predictions=inference_predict(model=model, rows=rows),
                                  embeddings=np.zeros((len(rows), 384), dtype=np.float32) + 0.05,
                                  origin=RecordOrigin(request_id="bench-release"))  # fmt: skip
            record_create_many(records=built)
    started = time.perf_counter()
    stored = stored_rows_get(name=name, version_id=champion.pk, limit=n)
    read = time.perf_counter() - started
    started = time.perf_counter()
    rows_replay(model=model, rows=stored.features, validated=True)
    own = time.perf_counter() - started
    other = loaded_model_get(model_id=challenger.model_id)
    started = time.perf_counter()
    rows_replay(model=other, rows=stored.features)
    cross = time.perf_counter() - started
    return {"records": len(stored), "read": read, "own": own, "cross": cross}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--replay", type=int, default=20_000)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    from bench.gunicorn import _features, _ready, setup_django, start_gunicorn

    setup_django(production=True)
    from accounts.services import api_key_create

    text, text_challenger = _versions("text")
    tabular, tabular_challenger = _versions("tabular")
    _, key = api_key_create(name=f"bench-release-{os.getpid()}")
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
    feats = _features()
    env = dict(os.environ, GUNICORN_WORKERS="2", GUNICORN_BIND=f"127.0.0.1:{args.port}")
    env.update(API_THROTTLE_RATE="1000000/min", MODEL_REFRESH_SECONDS="1")
    server = start_gunicorn(env)
    results: dict[str, list[float]] = {"none": [], "shadow": [], "load none": [], "load canary": []}
    try:
        _ready(args.port, time.perf_counter())
        for _ in range(args.rounds):
            for mode in ("none", "shadow"):
                _set(text.name, text_challenger, mode)
                results[mode].append(_one_client(args.port, headers, text.name, feats, args.requests))
        for _ in range(max(2, args.rounds - 1)):
            for mode in ("none", "canary"):
                _set(tabular.name, tabular_challenger, mode, 50.0)
                results[f"load {mode}"].append(_sixteen(args.port, headers, tabular.name, feats, args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)
    _set(tabular.name, tabular_challenger, "canary", 50.0)
    routing = _routing(tabular.name, feats)
    _set(tabular.name, None, "none")
    _set(text.name, None, "none")
    replay = _replay(tabular.name, tabular, tabular_challenger, args.replay)
    _report(results, routing, replay)


def _report(results: dict[str, list[float]], routing: dict[str, float], replay: dict[str, float]) -> None:
    def span(values: list[float], unit: str) -> str:
        return f"{min(values):.2f}-{max(values):.2f} {unit} (median {statistics.median(values):.2f})"

    shadow_cost = [s - n for n, s in zip(results["none"], results["shadow"], strict=True)]
    ratio = [c / n for n, c in zip(results["load none"], results["load canary"], strict=True)]
    print("one client, text embedder, p50 per block:")
    print(f"  champion only        {span(results['none'], 'ms')}")
    print(f"  challenger in shadow {span(results['shadow'], 'ms')}")
    print(f"  shadow - champion, per round: {', '.join(f'{c:+.2f}' for c in shadow_cost)} ms (goal <= +1 ms)")
    print("16 clients, tabular embedder, requests/s per block:")
    print(f"  no challenger        {span(results['load none'], 'req/s')}")
    print(f"  50 % canary          {span(results['load canary'], 'req/s')}")
    print(f"  canary / none, per round: {', '.join(f'{r:.3f}' for r in ratio)} (goal >= 0.90)")
    for label, ms in routing.items():
        print(f"routing decision of a 50 % canary, {label}: {ms * 1000:.1f} µs (goal <= 50 µs)")
    n = replay["records"]
    print(
        f"replay of {n:.0f} records: read {n / replay['read']:,.0f}/s; own version {n / replay['own']:,.0f}/s; "
        f"another version (schema check) {n / replay['cross']:,.0f}/s; read + own "
        f"{n / (replay['read'] + replay['own']):,.0f}/s (goal >= 20,000/s)"
    )


if __name__ == "__main__":
    main()

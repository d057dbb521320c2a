"""Records at scale: load N synthetic records by COPY, then time the records API over HTTP.

Usage: .venv/bin/python -m bench.records [--records 1000000] [--queries 200] [--data-dir .data-bench]

The records are realistic: German credit rows resampled with noise on the numbers, scored and
explained by the demo model, embedded as the real MiniLM text embedding of their source row plus
Gaussian noise (so the vectors are clustered like real data), spread over the past year. Loading is
skipped when the data directory already holds at least N records (``--reload`` forces it).

Reported per endpoint: server-side p50/p95 (the app's Server-Timing header) over HTTP, through a
1-worker gunicorn. Nearest is also checked for recall@10 against an exact scan over 100 queries.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _setup(data_dir: Path) -> None:
    os.environ["RISKENGINE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskengine.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ["JWT_ACCESS_MINUTES"] = "60"
    embedding_cache = ROOT / ".data" / "embedding"
    if embedding_cache.is_dir() and not (data_dir / "embedding").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(embedding_cache, data_dir / "embedding")
    import django

    django.setup()


def _generate_and_copy(n: int, chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Returns the ids and vectors (for the exact-scan recall check)."""
    from django.db import connection
    from pgvector.psycopg import register_vector

    from predictions.embedding_runtime import embedder_get
    from predictions.ml.embedding import render_text
    from predictions.ml.features import decode_row, encode_frame
    from predictions.ml.training import read_training_csv
    from predictions.selectors import loaded_model_get

    model = loaded_model_get(name="credit")
    schema = model.schema
    frame = read_training_csv(ROOT / "data" / "german_credit.csv")
    y = (frame["creditability"] == "bad").to_numpy()
    base = encode_frame(frame.drop(columns=["creditability"]), schema)
    print(f"embedding {len(base)} source rows ...", flush=True)
    base_vectors = embedder_get().encode([render_text(schema, decode_row(schema, row)) for row in base])
    rng = np.random.default_rng(42)
    numeric = [j for j, spec in enumerate(schema) if spec.type in ("number", "integer")]
    # Each numeric feature moves the vector along its own direction, in proportion to how far the
    # record's value was pushed: within a source row's cluster, records with similar values are
    # near each other (a low-dimensional structure, as in real data), not all equally far apart.
    directions = rng.normal(size=(len(numeric), 384)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    all_vectors = np.empty((n, 384), dtype=np.float32)
    all_ids = np.empty(n, dtype=object)
    now = datetime.now(tz=UTC)
    columns = (
        "id, timestamp, model_version_id, model_id, features_json, embedding, risk_score, risk_label, "
        "base_log_odds, drivers, request_id, outcome"
    )
    with connection.cursor() as django_cursor:
        raw = django_cursor.connection
        register_vector(raw)
        with raw.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '4GB'")
            cursor.execute("SET max_parallel_maintenance_workers = 2")
            cursor.execute("TRUNCATE records_record CASCADE")
            cursor.execute("ALTER TABLE records_record SET (autovacuum_enabled = false)")
            indexes = cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE tablename = 'records_record' AND indexname <> 'records_record_pkey'"
            ).fetchall()
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            started = time.perf_counter()
            for offset in range(0, n, chunk):
                size = min(chunk, n - offset)
                pick = rng.integers(0, len(base), size)
                rows = base[pick].copy()
                shifts = rng.normal(0.0, 1.0, (size, len(numeric))).astype(np.float32)
                for column, j in enumerate(numeric):
                    spec = schema[j]
                    noise = 1.0 + 0.08 * shifts[:, column]
                    values = rows[:, j] * noise
                    if spec.type == "integer":
                        values = np.round(values)
                    rows[:, j] = np.clip(values, spec.min, spec.max)
                dicts = [decode_row(schema, row) for row in rows]
                predictions = model.scorer.predict_encoded(rows, dicts)
                vectors = base_vectors[pick] + 0.03 * shifts @ directions
                vectors += rng.normal(0, 0.002, (size, 384)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                all_vectors[offset : offset + size] = vectors
                seconds = rng.integers(0, 365 * 86400, size)
                outcome_known = rng.random(size) < 0.3
                types = ["uuid", "timestamptz", "int8", "varchar", "jsonb", "vector", "float8", "varchar", "float8",
                         "jsonb", "varchar", "bool"]  # fmt: skip
                with cursor.copy(f"COPY records_record ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types)
                    for i in range(size):
                        p = predictions[i]
                        pk = uuid.uuid4()
                        all_ids[offset + i] = str(pk)
                        copy.write_row(
                            (
                                pk,
                                now - timedelta(seconds=int(seconds[i])),
                                model.pk,
                                model.model_id,
                                dicts[i],
                                vectors[i],
                                p.risk_score,
                                p.risk_label,
                                p.base_log_odds,
                                p.drivers,
                                "bench",
                                bool(y[pick[i]]) if outcome_known[i] else None,
                            )
                        )
                done = offset + size
                rate = done / (time.perf_counter() - started)
                print(f"  copied {done:,} records ({rate:,.0f}/s)", flush=True)
            for name, definition in indexes:
                start = time.perf_counter()
                cursor.execute(definition)
                print(f"  built {name} in {time.perf_counter() - start:.0f} s", flush=True)
            cursor.execute("ALTER TABLE records_record SET (autovacuum_enabled = true)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE records_record")
    return all_ids.astype(str), all_vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data-bench")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--warm", type=int, default=0, help="random nearest queries to run before measuring")
    args = parser.parse_args()
    _setup(args.data_dir.resolve())
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import AccessToken

    from bench.gunicorn import _ready, start_gunicorn
    from records.models import Record

    call_command("bootstrap", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    count = Record.objects.count()
    vectors_file = args.data_dir / "bench-vectors.npy"
    ids_file = args.data_dir / "bench-ids.npy"
    if args.reload or count < args.records or not vectors_file.exists():
        load_start = time.perf_counter()
        ids, vectors = _generate_and_copy(args.records)
        print(f"loaded {args.records:,} records in {time.perf_counter() - load_start:.0f} s", flush=True)
        np.save(vectors_file, vectors)
        np.save(ids_file, ids)
    vectors = np.load(vectors_file)
    ids = np.load(ids_file)
    print(f"{len(ids):,} records in the table", flush=True)

    user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    token = str(AccessToken.for_user(user))
    env = dict(
        os.environ, GUNICORN_WORKERS="1", GUNICORN_BIND=f"127.0.0.1:{args.port}", API_THROTTLE_RATE="1000000/min"
    )
    server = start_gunicorn(env)
    rng = np.random.default_rng(7)
    try:
        _ready(args.port, time.perf_counter())
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
        headers = {"Authorization": f"Bearer {token}"}

        def get(path: str) -> tuple[dict[str, Any], float]:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = json.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {body}")
            timing = response.getheader("Server-Timing", "app;dur=nan")
            return body, float(timing.split("dur=")[1])

        results: dict[str, list[float]] = {}

        def measure(name: str, paths: list[str]) -> None:
            for path in paths[:5]:
                get(path)  # warm
            results[name] = [get(path)[1] for path in paths]

        q = args.queries
        measure("first page (50)", ["/api/records/"] * q)
        labels = ["high", "medium", "low"]
        filtered = []
        for i in range(q):
            low = float(rng.uniform(0.0, 0.5))
            filtered.append(
                "/api/records/?"
                + urlencode({"risk_label": labels[i % 3], "score_min": round(low, 3), "score_max": round(low + 0.3, 3)})
            )
        measure("label + score range", filtered)
        deep_paths = []
        body, _ = get("/api/records/?page_size=50")
        for _ in range(50):
            parts = urlsplit(body["next"])
            deep_paths.append(f"{parts.path}?{parts.query}")
            body, _ = get(deep_paths[-1])
        measure("page 50 cursors deep", [deep_paths[-1]] * q)
        warm_start = time.perf_counter()
        for i in rng.choice(len(ids), size=args.warm, replace=False) if args.warm else []:
            get(f"/api/records/{ids[i]}/nearest/?k=10")
        if args.warm:
            print(f"warmed with {args.warm} nearest queries in {time.perf_counter() - warm_start:.0f} s", flush=True)
        sample = rng.choice(len(ids), size=q, replace=False)
        measure("detail", [f"/api/records/{ids[i]}/" for i in sample])
        measure("nearest k=10", [f"/api/records/{ids[i]}/nearest/?k=10" for i in sample])
        hits = 0
        recall_sample = rng.choice(len(ids), size=100, replace=False)
        for i in recall_sample:
            body, _ = get(f"/api/records/{ids[i]}/nearest/?k=10")
            got = {r["id"] for r in body["results"]}
            scores = vectors @ vectors[i]
            scores[i] = -np.inf
            exact = {ids[j] for j in np.argpartition(-scores, 10)[:10]}
            hits += len(got & exact)
        recall = hits / 1000
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"records API at {len(ids):,} records, server-side over HTTP (1 gunicorn worker, {q} requests each):")
    for name, samples in results.items():
        ordered = sorted(samples)
        p95 = ordered[int(len(ordered) * 0.95)]
        print(f"  {name:24s} p50 {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms")
    print(f"  nearest recall@10 vs exact scan over 100 queries: {recall:.3f}")


if __name__ == "__main__":
    main()

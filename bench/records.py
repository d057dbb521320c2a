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


_COLUMNS = (
    "id, timestamp, model_version_id, model_id, features_json, embedding, risk_score, risk_label, "
    "base_log_odds, drivers, contributions, request_id, outcome"
)
_TYPES = ["uuid", "timestamptz", "int8", "varchar", "jsonb", "vector", "float8", "varchar", "float8", "jsonb",
          "float8[]", "varchar", "bool"]  # fmt: skip


class _Synthetic:
    """German credit rows resampled with noise on the numbers, their vectors moved to match."""

    def __init__(self, model: Any) -> None:
        from predictions.embedding_runtime import embedder_get
        from predictions.ml.embedding import render_text
        from predictions.ml.features import decode_row, encode_frame
        from predictions.ml.training import read_training_csv

        self.model, self.schema = model, model.schema
        frame = read_training_csv(ROOT / "data" / "german_credit.csv")
        self.y = (frame["creditability"] == "bad").to_numpy()
        self.base = encode_frame(frame.drop(columns=["creditability"]), self.schema)
        print(f"embedding {len(self.base)} source rows ...", flush=True)
        texts = [render_text(self.schema, decode_row(self.schema, row)) for row in self.base]
        self.base_vectors = embedder_get().encode(texts)
        self.rng = np.random.default_rng(42)
        self.numeric = [j for j, spec in enumerate(self.schema) if spec.type in ("number", "integer")]
        # Each numeric feature moves the vector along its own direction, in proportion to how far the
        # record's value was pushed: within a source row's cluster, records with similar values are
        # near each other (a low-dimensional structure, as in real data), not all equally far apart.
        directions = self.rng.normal(size=(len(self.numeric), 384)).astype(np.float32)
        self.directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)

    def chunk(self, size: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], np.ndarray]:
        """(source row picked, encoded rows, feature dicts, unit vectors) for ``size`` new records."""
        from predictions.ml.features import decode_row

        pick = self.rng.integers(0, len(self.base), size)
        rows = self.base[pick].copy()
        shifts = self.rng.normal(0.0, 1.0, (size, len(self.numeric))).astype(np.float32)
        for column, j in enumerate(self.numeric):
            spec = self.schema[j]
            values = rows[:, j] * (1.0 + 0.08 * shifts[:, column])
            if spec.type == "integer":
                values = np.round(values)
            rows[:, j] = np.clip(values, spec.min, spec.max)
        dicts = [decode_row(self.schema, row) for row in rows]
        vectors = self.base_vectors[pick] + 0.03 * shifts @ self.directions
        vectors += self.rng.normal(0, 0.002, (size, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return pick, rows, dicts, vectors

    def copy(self, cursor: Any, size: int, now: datetime) -> tuple[list[str], np.ndarray]:
        """COPY ``size`` new records; returns their ids and vectors."""
        pick, rows, dicts, vectors = self.chunk(size)
        predictions = self.model.scorer.predict_encoded(rows, dicts)
        seconds = self.rng.integers(0, 365 * 86400, size)
        outcome_known = self.rng.random(size) < 0.3
        ids = []
        with cursor.copy(f"COPY records_record ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_TYPES)
            for i, p in enumerate(predictions):
                pk = uuid.uuid4()
                ids.append(str(pk))
                outcome = bool(self.y[pick[i]]) if outcome_known[i] else None
                when = now - timedelta(seconds=int(seconds[i]))
                copy.write_row(
                    (pk, when, self.model.pk, self.model.model_id, dicts[i], vectors[i], p.risk_score,
                     p.risk_label, p.base_log_odds, p.drivers, p.contributions.tolist(), "bench", outcome)
                )  # fmt: skip
        return ids, vectors


def _generate_and_copy(n: int, chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Replace the table's records with ``n`` synthetic ones (indexes dropped while loading, then
    rebuilt); returns the ids and vectors (for the exact-scan recall check)."""
    from django.db import connection
    from pgvector.psycopg import register_vector

    from predictions.selectors import loaded_model_get

    synthetic = _Synthetic(loaded_model_get(name="credit"))
    all_vectors = np.empty((n, 384), dtype=np.float32)
    all_ids: list[str] = []
    now = datetime.now(tz=UTC)
    with connection.cursor() as django_cursor:
        raw = django_cursor.connection
        register_vector(raw)
        with raw.cursor() as cursor:
            indexes = _empty_without_indexes(cursor)
            started = time.perf_counter()
            for offset in range(0, n, chunk):
                size = min(chunk, n - offset)
                ids, all_vectors[offset : offset + size] = synthetic.copy(cursor, size, now)
                all_ids += ids
                rate = (offset + size) / (time.perf_counter() - started)
                print(f"  copied {offset + size:,} records ({rate:,.0f}/s)", flush=True)
            for name, definition in indexes:
                start = time.perf_counter()
                cursor.execute(definition)
                print(f"  built {name} in {time.perf_counter() - start:.0f} s", flush=True)
            cursor.execute("ALTER TABLE records_record SET (autovacuum_enabled = true)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE records_record")
    return np.asarray(all_ids, dtype=str), all_vectors


def _empty_without_indexes(cursor: Any) -> list[tuple[str, str]]:
    """Empty the table and drop its secondary indexes (returned, to rebuild after the load)."""
    cursor.execute("SET maintenance_work_mem = '4GB'")
    cursor.execute("SET max_parallel_maintenance_workers = 2")
    cursor.execute("TRUNCATE records_record CASCADE")
    cursor.execute("ALTER TABLE records_record SET (autovacuum_enabled = false)")
    indexes: list[tuple[str, str]] = cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE tablename = 'records_record' AND indexname <> 'records_record_pkey'"
    ).fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return indexes


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data-bench")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--warm", type=int, default=0, help="random nearest queries to run before measuring")
    return parser.parse_args()


def _loaded(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """The ids and vectors of the bench records, loading them first when the table lacks them."""
    from records.models import Record

    vectors_file = args.data_dir / "bench-vectors.npy"
    ids_file = args.data_dir / "bench-ids.npy"
    if args.reload or Record.objects.count() < args.records or not vectors_file.exists():
        load_start = time.perf_counter()
        ids, vectors = _generate_and_copy(args.records)
        print(f"loaded {args.records:,} records in {time.perf_counter() - load_start:.0f} s", flush=True)
        np.save(vectors_file, vectors)
        np.save(ids_file, ids)
    return np.load(ids_file), np.load(vectors_file)


class _Client:
    """One keep-alive connection; ``get`` returns the body and the server's own time (Server-Timing)."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> tuple[dict[str, Any], float]:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body}")
        timing = response.getheader("Server-Timing", "app;dur=nan")
        return body, float(timing.split("dur=")[1])

    def measure(self, paths: list[str]) -> list[float]:
        for path in paths[:5]:
            self.get(path)  # warm
        return [self.get(path)[1] for path in paths]


def _filtered_paths(rng: np.random.Generator, q: int) -> list[str]:
    labels = ["high", "medium", "low"]
    paths = []
    for i in range(q):
        low = float(rng.uniform(0.0, 0.5))
        query = {"risk_label": labels[i % 3], "score_min": round(low, 3), "score_max": round(low + 0.3, 3)}
        paths.append("/api/records/?" + urlencode(query))
    return paths


def _deep_path(client: _Client, pages: int = 50) -> str:
    body, _ = client.get("/api/records/?page_size=50")
    path = ""
    for _ in range(pages):
        parts = urlsplit(body["next"])
        path = f"{parts.path}?{parts.query}"
        body, _ = client.get(path)
    return path


def _measure_endpoints(client: _Client, ids: np.ndarray, args: argparse.Namespace) -> dict[str, list[float]]:
    rng = np.random.default_rng(7)
    q = args.queries
    results = {
        "first page (50)": client.measure(["/api/records/"] * q),
        "label + score range": client.measure(_filtered_paths(rng, q)),
        "page 50 cursors deep": client.measure([_deep_path(client)] * q),
    }
    if args.warm:
        warm_start = time.perf_counter()
        for i in rng.choice(len(ids), size=args.warm, replace=False):
            client.get(f"/api/records/{ids[i]}/nearest/?k=10")
        print(f"warmed with {args.warm} nearest queries in {time.perf_counter() - warm_start:.0f} s", flush=True)
    sample = rng.choice(len(ids), size=q, replace=False)
    results["detail"] = client.measure([f"/api/records/{ids[i]}/" for i in sample])
    results["nearest k=10"] = client.measure([f"/api/records/{ids[i]}/nearest/?k=10" for i in sample])
    return results


def _recall(client: _Client, ids: np.ndarray, vectors: np.ndarray, queries: int = 100) -> float:
    """Nearest's recall@10 against an exact scan of the same vectors."""
    rng = np.random.default_rng(11)
    hits = 0
    for i in rng.choice(len(ids), size=queries, replace=False):
        body, _ = client.get(f"/api/records/{ids[i]}/nearest/?k=10")
        got = {r["id"] for r in body["results"]}
        scores = vectors @ vectors[i]
        scores[i] = -np.inf
        hits += len(got & {ids[j] for j in np.argpartition(-scores, 10)[:10]})
    return hits / (10 * queries)


def main() -> None:
    args = _arguments()
    _setup(args.data_dir.resolve())
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import AccessToken

    from bench.gunicorn import _ready, start_gunicorn

    call_command("bootstrap", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    ids, vectors = _loaded(args)
    print(f"{len(ids):,} records in the table", flush=True)
    user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    env = dict(
        os.environ, GUNICORN_WORKERS="1", GUNICORN_BIND=f"127.0.0.1:{args.port}", API_THROTTLE_RATE="1000000/min"
    )
    server = start_gunicorn(env)
    try:
        _ready(args.port, time.perf_counter())
        client = _Client(args.port, str(AccessToken.for_user(user)))
        results = _measure_endpoints(client, ids, args)
        recall = _recall(client, ids, vectors)
    finally:
        server.terminate()
        server.wait(timeout=30)
    workers = f"1 gunicorn worker, {args.queries} requests each"
    print(f"records API at {len(ids):,} records, server-side over HTTP ({workers}):")
    for name, samples in results.items():
        ordered = sorted(samples)
        p95 = ordered[int(len(ordered) * 0.95)]
        print(f"  {name:24s} p50 {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms")
    print(f"  nearest recall@10 vs exact scan over 100 queries: {recall:.3f}")


if __name__ == "__main__":
    main()

"""Where a one-record insert's time goes: the commit, the vector, the indexes.

Usage: .venv/bin/python -m bench.insert [--rows 300] [--embedder tabular|text]

Times ``record_create_many`` for one record (a statement of its own, committed) and then the same
insert inside one transaction that is rolled back at the end: with every index, without the HNSW
index, without any secondary index, and with no embedding. DROP INDEX is transactional in
PostgreSQL, so the rollback restores every index.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any


def _p50(fn: Callable[[int], object], n: int) -> float:
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _rolled_back(label: str, setup_sql: list[str], fn: Callable[[int], object], n: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            for sql in setup_sql:
                cursor.execute(sql)
        print(f"  {label:58s} p50 {_p50(fn, n):6.3f} ms", flush=True)
        transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--embedder", choices=("tabular", "text"), default="tabular")
    args = parser.parse_args()
    from bench.gunicorn import setup_django

    setup_django(production=True)
    from django.db import connection

    from bench.predict import _Parts
    from predictions.inference import inference_predict
    from records.models import Record
    from records.services import RecordOrigin, record_create_many, records_build

    parts = _Parts(args.rows, f"bench-insert-{uuid.uuid4().hex[:8]}", args.embedder)
    predictions = [inference_predict(model=parts.model, rows=[v]) for v in parts.validated]
    vectors = [parts.embed(i) for i in range(args.rows)]
    origin = RecordOrigin(request_id="bench-insert", created_by=parts.api_key.user, api_key=parts.api_key)

    def insert(i: int, *, vector: bool = True) -> Any:
        built = records_build(
            model=parts.model, rows=[parts.validated[i]], predictions=predictions[i],
            embeddings=vectors[i] if vector else None, origin=origin,
        )  # fmt: skip
        return record_create_many(records=built)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'records_record' AND indexname NOT LIKE '%%pkey' "
            "AND indexname NOT LIKE '%%fingerprint%%'"
        )
        secondary = [row[0] for row in cursor.fetchall()]
    print(f"one-record inserts, model bench-{args.embedder}, {args.rows} each:")
    print(f"  {'a statement of its own (as a request does it)':58s} p50 {_p50(insert, args.rows):6.3f} ms")
    _rolled_back("inside one transaction, every index", [], insert, args.rows)
    _rolled_back("... without the HNSW index", ["DROP INDEX record_embedding_hnsw"], insert, args.rows)
    _rolled_back("... without any secondary index", [f'DROP INDEX "{name}"' for name in secondary], insert, args.rows)
    _rolled_back("... every index, embedding NULL", [], lambda i: insert(i, vector=False), args.rows)
    Record.objects.filter(request_id="bench-insert").delete()


if __name__ == "__main__":
    main()

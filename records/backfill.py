"""Backfill historical CSVs into the record store: streamed, validated like the API, idempotent.

Rows are read one batch at a time (memory stays bounded whatever the file's size; ``.gz`` files are
read as they decompress). Each row is validated exactly as ``POST /api/predict/`` validates it;
invalid rows go to a rejects CSV with a ``reason`` column. Valid rows are scored, explained and
embedded in one call per batch and inserted through COPY into a staging table, then
``INSERT ... ON CONFLICT DO NOTHING`` on the row's fingerprint: re-running a file, or resuming a
killed run, inserts each row exactly once. Each batch commits on its own.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from predictions.embedder import embed_rows
from predictions.inference import inference_predict
from predictions.ml.features import coerce_text_features, validate_features
from predictions.selectors import LoadedModel
from records.models import Record

DEFAULT_BATCH_SIZE = 1000
REASON_COLUMN = "reason"


class BackfillError(ValueError):
    """The file cannot be imported at all (nothing was stored); the message is fit for a user."""


@dataclass
class BackfillOptions:
    timestamp_column: str | None = None
    outcome_column: str | None = None
    outcome_positive: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    request_id: str = ""


@dataclass
class BackfillSummary:
    total_rows: int = 0
    processed_rows: int = 0
    inserted_rows: int = 0
    skipped_rows: int = 0  # already stored (an earlier run, or a duplicate in this file)
    rejected_rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)


def open_text(path: Path) -> IO[str]:
    """Text stream of a CSV or CSV.gz; a BOM is dropped, CRLF and quoted newlines are handled."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def count_rows(path: Path) -> int:
    with open_text(path) as handle:
        reader = csv.reader(handle)
        next(reader, None)
        return sum(1 for _ in reader)


def fingerprint(model_pk: int, values: dict[str, Any], source_timestamp: str) -> str:
    canonical = json.dumps([model_pk, values, source_timestamp], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _parse_timestamp(raw: str) -> datetime | None:
    text = raw.strip()
    parsed = parse_datetime(text.replace(" ", "T", 1)) if "T" in text or " " in text else None
    if parsed is None:
        day = parse_date(text)
        if day is None:
            return None
        parsed = datetime(day.year, day.month, day.day)
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _reason(errors: dict[str, str]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in errors.items())


def _batches(reader: Iterator[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    batch: list[dict[str, str]] = []
    for row in reader:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_COLUMNS = (
    "id, timestamp, model_version_id, model_id, features_json, embedding, risk_score, risk_label, "
    "base_log_odds, drivers, request_id, outcome, outcome_observed_at, fingerprint"
)
_TYPES = ["uuid", "timestamptz", "int8", "varchar", "jsonb", "vector", "float8", "varchar", "float8", "jsonb",
          "varchar", "bool", "timestamptz", "varchar"]  # fmt: skip


def _insert(rows: list[tuple[Any, ...]]) -> int:
    """COPY into a staging table, then insert what is not stored yet. Returns rows inserted."""
    from pgvector.psycopg import register_vector

    with transaction.atomic(), connection.cursor() as django_cursor:
        raw = django_cursor.connection
        register_vector(raw)
        with raw.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS backfill_staging (LIKE records_record INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            )
            with cursor.copy(f"COPY backfill_staging ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_TYPES)
                for row in rows:
                    copy.write_row(row)
            cursor.execute(  # _COLUMNS is a constant, not input
                f"INSERT INTO records_record ({_COLUMNS}) SELECT {_COLUMNS} FROM backfill_staging "  # noqa: S608
                "ON CONFLICT (model_version_id, fingerprint) WHERE fingerprint IS NOT NULL DO NOTHING"
            )
            return int(cursor.rowcount)


def backfill_csv(
    *,
    path: Path,
    model: LoadedModel,
    options: BackfillOptions,
    rejects: IO[str] | None = None,
    progress: Callable[[BackfillSummary], None] | None = None,
) -> BackfillSummary:
    summary = BackfillSummary(total_rows=count_rows(path))
    schema = model.schema
    names = [spec.name for spec in schema]
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        if not header:
            raise BackfillError(f"{path.name} is empty: no header row")
        reader.fieldnames = header
        missing = [spec.name for spec in schema if spec.required and spec.name not in header]
        if missing:
            raise BackfillError(f"the header lacks required feature column(s): {', '.join(missing)}")
        for column, flag in (
            (options.timestamp_column, "--timestamp-column"),
            (options.outcome_column, "--outcome-column"),
        ):
            if column and column not in header:
                raise BackfillError(f"{flag} {column!r} is not in the header")
        special = {options.timestamp_column, options.outcome_column}
        summary.ignored_columns = [c for c in header if c not in names and c not in special]
        writer = None
        if rejects is not None:
            writer = csv.DictWriter(rejects, fieldnames=[*header, REASON_COLUMN], extrasaction="ignore")
            writer.writeheader()
        seen_in_file: set[str] = set()
        for batch in _batches(reader, options.batch_size):
            valid: list[tuple[dict[str, Any], datetime | None, bool | None, str]] = []
            for raw_row in batch:
                raw = {name: raw_row.get(name) for name in names if name in raw_row}
                typed, errors = coerce_text_features(schema, raw)
                typed = {k: v for k, v in typed.items() if v is not None and k not in errors}
                validated = validate_features(schema, typed)
                errors = {**validated.errors, **errors}
                when: datetime | None = None
                source_ts = ""
                if options.timestamp_column:
                    source_ts = (raw_row.get(options.timestamp_column) or "").strip()
                    when = _parse_timestamp(source_ts) if source_ts else None
                    if when is None:
                        errors[options.timestamp_column] = f"Not an ISO 8601 date or time: {source_ts[:40]!r}."
                outcome: bool | None = None
                if options.outcome_column:
                    cell = (raw_row.get(options.outcome_column) or "").strip()
                    outcome = None if cell == "" else cell == options.outcome_positive
                if errors:
                    summary.rejected_rows += 1
                    if writer is not None:
                        writer.writerow({**raw_row, REASON_COLUMN: _reason(errors)})
                    continue
                values = validated.values
                key = fingerprint(model.pk, values, source_ts)
                if key in seen_in_file:
                    summary.skipped_rows += 1
                    continue
                seen_in_file.add(key)
                valid.append((values, when, outcome, key))
            if valid:
                existing = set(
                    Record.objects.filter(model_version_id=model.pk, fingerprint__in=[v[3] for v in valid]).values_list(
                        "fingerprint", flat=True
                    )
                )
                fresh = [v for v in valid if v[3] not in existing]  # resuming: no re-scoring of stored rows
                summary.skipped_rows += len(valid) - len(fresh)
                if fresh:
                    rows = [v[0] for v in fresh]
                    predictions = inference_predict(model=model, rows=rows)
                    vectors = embed_rows(model=model, rows=rows)
                    now = timezone.now()
                    inserted = _insert(
                        [
                            (
                                uuid.uuid4(),
                                when or now,
                                model.pk,
                                model.model_id,
                                values,
                                np.asarray(vectors[i], dtype=np.float32),
                                p.risk_score,
                                p.risk_label,
                                p.base_log_odds,
                                p.drivers,
                                options.request_id,
                                outcome,
                                (when or now) if outcome is not None else None,
                                key,
                            )
                            for i, ((values, when, outcome, key), p) in enumerate(zip(fresh, predictions, strict=True))
                        ]
                    )
                    summary.inserted_rows += inserted
                    summary.skipped_rows += len(fresh) - inserted  # stored meanwhile by another worker
            summary.processed_rows += len(batch)
            if progress is not None:
                progress(summary)
    return summary

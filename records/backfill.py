"""Backfill historical CSVs into the record store: streamed, validated like the API, idempotent.

The file (plain or gzip) is read once, as it decompresses, one batch at a time, so memory stays
bounded whatever its size; its expanded size may be bounded too (``max_expanded_bytes``). Each row is
validated exactly as ``POST /api/predict/`` validates it; a row that cannot be used (invalid
features, bytes that are not UTF-8, a NUL byte, an impossible date, an outcome that is neither of its
two values) goes to the rejects CSV with a ``reason`` column. Valid rows are scored, explained and
embedded in one call per batch, built into Records by the same service as the API's, and inserted
through COPY into a staging table, then ``INSERT ... ON CONFLICT DO NOTHING`` on the row's
fingerprint: re-running a file, or resuming a killed run, inserts each row exactly once. Each batch commits on its own.

A row's fingerprint is the file's own key (``id_column``) when it has one; otherwise the model
version, the canonical features and the source timestamp, plus which copy of that content it is in
the file, so two identical rows are two records and a re-run still inserts neither twice.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from core.api.serializers import EARLIEST, LATEST
from core.canonical import canonical_sha256
from core.errors import ApplicationError
from core.types import FeatureRow, FeatureValue
from predictions.embedding_runtime import embed_rows
from predictions.inference import inference_encode, inference_predict
from predictions.ml.features import coerce_text_features, validate_features, validate_protected
from predictions.selectors import LoadedModel
from records.models import Record
from records.services import RecordOrigin, record_insert_new, records_build

DEFAULT_BATCH_SIZE = 1000
REASON_COLUMN = "reason"
# A cell starting with one of these is a formula to a spreadsheet; the rejects file escapes it.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NOT_UTF8 = "the row has bytes that are not UTF-8 (save the file as UTF-8)"


class BackfillError(ApplicationError, ValueError):
    """The file cannot be imported (any further); the message is fit for a user."""

    code = "invalid_file"


@dataclass
class BackfillOptions:
    timestamp_column: str | None = None
    outcome_column: str | None = None
    outcome_positive: str | None = None
    outcome_negative: str | None = None
    id_column: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    request_id: str = ""
    max_expanded_bytes: int | None = None
    max_line_length: int | None = None  # characters in one line of the file
    max_columns: int | None = None
    max_rows: int | None = None
    deadline: float | None = None  # time.monotonic() past which the import stops


@dataclass
class BackfillSummary:
    total_rows: int | None = None  # known once the file has been read
    processed_rows: int = 0
    inserted_rows: int = 0
    skipped_rows: int = 0  # already stored (an earlier run of the same file)
    rejected_rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    bytes_read: int = 0  # of the file as stored (compressed, if it is)
    bytes_total: int | None = None


class _Counting(io.RawIOBase):
    """A binary stream that counts what passes, and refuses to pass more than ``limit`` bytes."""

    def __init__(self, inner: IO[bytes], limit: int | None = None, what: str = "") -> None:
        self.inner, self.limit, self.what, self.count = inner, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # io's WriteableBuffer: any writable bytes-like object
        data = self.inner.read(len(buffer))
        self.count += len(data)
        if self.limit is not None and self.count > self.limit:
            raise BackfillError(f"{self.what} expands to more than {self.limit} bytes (IMPORT_MAX_EXPANDED_BYTES)")
        buffer[: len(data)] = data
        return len(data)


class _Source:
    """The CSV text of a plain or gzip binary stream, read once; counts the stored bytes read."""

    def __init__(self, raw: IO[bytes], *, name: str, max_expanded_bytes: int | None) -> None:
        self.raw = _Counting(raw)
        buffered = io.BufferedReader(self.raw)
        head = buffered.peek(2)[:2]
        binary: IO[bytes] = buffered
        if head == b"\x1f\x8b":
            binary = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]  # a binary stream too
        expanded = io.BufferedReader(_Counting(binary, max_expanded_bytes, name))
        # Undecodable bytes become lone surrogates: the row holding them is rejected, not the file.
        self.text = io.TextIOWrapper(expanded, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _bounded_lines(text: IO[str], limit: int | None) -> Iterator[str]:
    """The text's lines, each read at most ``limit`` characters at a time: a longer line fails the
    file before it is held in memory (one line of 256 MiB used to cost 500 MB)."""
    number = 0
    while line := text.readline(limit + 1 if limit else -1):
        number += 1
        if limit and len(line) > limit:
            raise BackfillError(f"line {number} is longer than {limit} characters (IMPORT_MAX_LINE_LENGTH)")
        yield line


def fingerprint(model_pk: int, values: Mapping[str, FeatureValue], source_timestamp: str) -> str:
    return canonical_sha256([model_pk, values, source_timestamp])


def _copy_fingerprint(base: str, copy: int) -> str:
    """The k-th copy (k >= 1) of the same content in one file has its own key; the first keeps ``base``."""
    return base if copy == 0 else hashlib.sha256(f"{base}#{copy}".encode()).hexdigest()


def _id_fingerprint(model_pk: int, key: str) -> str:
    return canonical_sha256([model_pk, "id", key])


def _parse_timestamp(raw: str) -> datetime | None:
    """An ISO 8601 date or date-time in the years 1900-2999 (naive means UTC), or None."""
    text = raw.strip()
    try:
        parsed = parse_datetime(text.replace(" ", "T", 1)) if "T" in text or " " in text else None
        if parsed is None:
            day = parse_date(text)
            if day is None:
                return None
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:  # well formed but impossible: 2024-02-30, 25:00
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed if EARLIEST <= parsed <= LATEST else None


T = TypeVar("T")
# One CSV row as csv.DictReader gives it: a missing cell is None.
CsvRow = Mapping[str, str | None]


def _reason(errors: dict[str, str]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in errors.items())


def spreadsheet_safe(value: T) -> T | str:
    """A cell a spreadsheet will show as text, never run as a formula (OWASP's CSV injection rule)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _printable(value: T) -> T | str:
    """A cell fit to write back out: undecodable bytes shown as ``?``, NUL dropped."""
    if not isinstance(value, str):
        return value
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _batches(reader: Iterator[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    batch: list[dict[str, str]] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise BackfillError(f"line {getattr(reader, 'line_num', '?')} is not valid CSV: {exc}") from None
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt gzip stream
            raise BackfillError(
                f"the file cannot be read past line {getattr(reader, 'line_num', '?')}: {exc}"
            ) from None
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Row:
    values: FeatureRow
    protected: FeatureRow
    when: datetime | None
    outcome: bool | None
    key: str


class _RowReader:
    """Turns one CSV row into a valid ``_Row`` or the reasons it is rejected; keeps the per-file state
    (copies of the same content, ids seen) that the fingerprints need."""

    def __init__(self, model: LoadedModel, options: BackfillOptions) -> None:
        self.model, self.options = model, options
        self.names = [spec.name for spec in model.schema]
        self.copies: dict[bytes, int] = {}
        self.ids: set[str] = set()

    def _outcome(self, raw_row: CsvRow, errors: dict[str, str]) -> bool | None:
        options = self.options
        if not options.outcome_column:
            return None
        cell = (raw_row.get(options.outcome_column) or "").strip().casefold()
        if cell == "":
            return None  # not known yet
        if cell == (options.outcome_positive or "").strip().casefold():
            return True
        if cell == (options.outcome_negative or "").strip().casefold():
            return False
        errors[options.outcome_column] = (
            f"{cell[:40]!r} is neither {options.outcome_positive!r} nor {options.outcome_negative!r}."
        )
        return None

    def _when(self, raw_row: CsvRow, errors: dict[str, str]) -> tuple[datetime | None, str]:
        column = self.options.timestamp_column
        if not column:
            return None, ""
        source = (raw_row.get(column) or "").strip()
        when = _parse_timestamp(source) if source else None
        if when is None:
            errors[column] = f"Not an ISO 8601 date or time in the years 1900-2999: {source[:40]!r}."
        return when, source

    def _key(self, raw_row: CsvRow, values: FeatureRow, source_ts: str, errors: dict[str, str]) -> str:
        column = self.options.id_column
        if column:
            ident = (raw_row.get(column) or "").strip()
            if not ident:
                errors[column] = "The id is empty."
            elif ident in self.ids:
                errors[column] = f"The id {ident[:40]!r} appears earlier in this file."
            else:
                self.ids.add(ident)
            return _id_fingerprint(self.model.pk, ident)
        base = fingerprint(self.model.pk, values, source_ts)
        digest = bytes.fromhex(base)[:16]
        copy = self.copies.get(digest, 0)
        self.copies[digest] = copy + 1
        return _copy_fingerprint(base, copy)

    def read(self, raw_row: CsvRow) -> _Row | dict[str, str]:
        cells = [value for value in raw_row.values() if isinstance(value, str)]
        if any("\x00" in cell for cell in cells):
            return {"row": "the row contains a NUL byte"}
        if any(not cell.isascii() and _printable(cell) != cell for cell in cells):
            return {"row": _NOT_UTF8}
        schema = self.model.schema
        raw = {name: raw_row.get(name) for name in self.names if name in raw_row}
        typed, errors = coerce_text_features(schema, raw)
        typed = {k: v for k, v in typed.items() if v is not None and k not in errors}
        validated = validate_features(schema, typed)
        errors = {**validated.errors, **errors}
        protected = self._protected(raw_row, errors)
        when, source_ts = self._when(raw_row, errors)
        outcome = self._outcome(raw_row, errors)
        if errors:
            return errors
        key = self._key(raw_row, validated.values, source_ts, errors)
        if errors:
            return errors
        return _Row(values=validated.values, protected=protected, when=when, outcome=outcome, key=key)

    def _protected(self, raw_row: CsvRow, errors: dict[str, str]) -> FeatureRow:
        """The row's protected columns (stored apart from the features; an empty cell: not given)."""
        specs = self.model.protected
        typed, problems = coerce_text_features(specs, {s.name: raw_row[s.name] for s in specs if s.name in raw_row})
        checked = validate_protected(specs, {k: v for k, v in typed.items() if k not in problems})
        errors.update({**checked.errors, **problems})
        return checked.values


def _check_header(header: list[str], model: LoadedModel, options: BackfillOptions) -> list[str]:
    """The columns the schema ignores; BackfillError (nothing stored) for a header that cannot work."""
    if not header:
        raise BackfillError("the file is empty: no header row")
    if options.max_columns is not None and len(header) > options.max_columns:
        raise BackfillError(f"the header has {len(header)} columns; at most {options.max_columns} (IMPORT_MAX_COLUMNS)")
    if any("\x00" in name for name in header):
        raise BackfillError("the header row contains a NUL byte")
    if any(_printable(name) != name for name in header):
        raise BackfillError("the header row has bytes that are not UTF-8 (save the file as UTF-8)")
    missing = [spec.name for spec in model.schema if spec.required and spec.name not in header]
    if missing:
        raise BackfillError(f"the header lacks required feature column(s): {', '.join(missing)}")
    flags = (
        (options.timestamp_column, "--timestamp-column"),
        (options.outcome_column, "--outcome-column"),
        (options.id_column, "--id-column"),
    )
    for column, flag in flags:
        if column and column not in header:
            raise BackfillError(f"{flag} {column!r} is not in the header")
    names = {spec.name for spec in model.schema} | model.protected_names
    special = {options.timestamp_column, options.outcome_column, options.id_column}
    return [c for c in header if c not in names and c not in special]


def _store(model: LoadedModel, rows: list[_Row], request_id: str, summary: BackfillSummary) -> None:
    """Score, explain, embed and insert the rows not stored yet (resuming: no re-scoring)."""
    existing = set(
        Record.objects.filter(model_version_id=model.pk, fingerprint__in=[r.key for r in rows]).values_list(
            "fingerprint", flat=True
        )
    )
    fresh = [r for r in rows if r.key not in existing]
    summary.skipped_rows += len(rows) - len(fresh)
    if not fresh:
        return
    values = [r.values for r in fresh]
    encoded = inference_encode(model=model, rows=values)
    records = records_build(
        model=model,
        rows=values,
        predictions=inference_predict(model=model, rows=values, encoded=encoded),
        embeddings=embed_rows(model=model, rows=values, encoded=encoded),
        origin=RecordOrigin(
            request_id=request_id,
            timestamps=[r.when for r in fresh],
            outcomes=[r.outcome for r in fresh],
            fingerprints=[r.key for r in fresh],
            protected=[r.protected for r in fresh],
            served_by="backfill",
        ),
    )
    inserted = record_insert_new(records=records)
    summary.inserted_rows += inserted
    summary.skipped_rows += len(fresh) - inserted  # stored meanwhile by another worker


def _check_bounds(options: BackfillOptions, summary: BackfillSummary, batch: int) -> None:
    """Before a batch is stored: the file's row cap and the run's deadline."""
    if options.max_rows is not None and summary.processed_rows + batch > options.max_rows:
        raise BackfillError(f"the file has more than {options.max_rows} rows, the most this import may take")
    if options.deadline is not None and time.monotonic() > options.deadline:
        raise BackfillError("the import ran past its deadline (IMPORT_MAX_SECONDS)")


def backfill_csv(
    *,
    source: IO[bytes],
    name: str,
    model: LoadedModel,
    options: BackfillOptions,
    rejects: IO[str] | None = None,
    progress: Callable[[BackfillSummary], None] | None = None,
    summary: BackfillSummary | None = None,
    size: int | None = None,
) -> BackfillSummary:
    """Import the CSV (or CSV.gz) read from ``source``. ``summary`` is updated in place after every
    batch, so a caller still knows what was stored if an error ends the run."""
    summary = summary if summary is not None else BackfillSummary()
    summary.bytes_total = size
    stream = _Source(source, name=name, max_expanded_bytes=options.max_expanded_bytes)
    reader = csv.DictReader(_bounded_lines(stream.text, options.max_line_length))
    try:
        header = [column.strip() for column in (reader.fieldnames or [])]
    except (csv.Error, OSError, EOFError, zlib.error) as exc:
        raise BackfillError(f"the header row cannot be read: {exc}") from None
    summary.ignored_columns = _check_header(header, model, options)
    reader.fieldnames = header
    writer = None
    if rejects is not None:
        writer = csv.DictWriter(rejects, fieldnames=[*header, REASON_COLUMN], extrasaction="ignore")
        writer.writeheader()
    rows = _RowReader(model, options)
    for batch in _batches(reader, options.batch_size):
        _check_bounds(options, summary, len(batch))
        valid: list[_Row] = []
        for raw_row in batch:
            read = rows.read(raw_row)
            if isinstance(read, _Row):
                valid.append(read)
                continue
            summary.rejected_rows += 1
            if writer is not None:
                cells = {k: spreadsheet_safe(_printable(v)) for k, v in raw_row.items() if isinstance(k, str)}
                writer.writerow({**cells, REASON_COLUMN: spreadsheet_safe(_reason(read))})
        if valid:
            _store(model, valid, options.request_id, summary)
        summary.processed_rows += len(batch)
        summary.bytes_read = stream.raw.count
        if progress is not None:
            progress(summary)
    summary.total_rows = summary.processed_rows
    summary.bytes_read = stream.raw.count
    return summary

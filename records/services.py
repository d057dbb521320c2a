"""Record writes: scored rows built into Records, stored atomically (API) or once (backfill), outcomes."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from django.db import connection, transaction
from django.utils import timezone
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from accounts.models import ApiKey
from core.principal import Principal, user_or_none
from core.types import FeatureRow
from predictions.ml.scoring import Prediction
from predictions.selectors import LoadedModel
from records.models import ClockTimestamp, Record, ShadowResult


@dataclass(frozen=True)
class RecordOrigin:
    """Where stored rows came from: the API's client, or a backfilled file's own times and outcomes."""

    request_id: str = ""
    created_by: Principal | None = None
    api_key: ApiKey | None = None
    timestamps: Sequence[datetime | None] | None = None  # None: now
    outcomes: Sequence[bool | None] | None = None
    fingerprints: Sequence[str | None] | None = None
    subjects: Sequence[str | None] | None = None
    protected: Sequence[FeatureRow] | None = None  # each row's protected attributes
    served_by: str = "champion"


def records_build(
    *,
    model: LoadedModel,
    rows: Sequence[FeatureRow],
    predictions: Sequence[Prediction],
    embeddings: np.ndarray | None,
    origin: RecordOrigin,
) -> list[Record]:
    """The unsaved Records for scored rows: the one place a Record's columns are filled in."""
    now = timezone.now()
    owner = user_or_none(origin.created_by)
    records = []
    for i, (row, prediction) in enumerate(zip(rows, predictions, strict=True)):
        when = (origin.timestamps[i] if origin.timestamps is not None else None) or now
        outcome = origin.outcomes[i] if origin.outcomes is not None else None
        records.append(
            Record(
                timestamp=when,
                model_version_id=model.pk,
                model_id=model.model_id,
                features_json=row,
                embedding=None if embeddings is None else np.asarray(embeddings[i], dtype=np.float32),
                risk_score=prediction.risk_score,
                risk_label=prediction.risk_label,
                base_log_odds=prediction.base_log_odds,
                drivers=prediction.drivers,
                contributions=prediction.contributions.tolist(),
                decision=prediction.decision,
                reasons=prediction.reasons,
                protected=origin.protected[i] if origin.protected is not None else {},
                request_id=origin.request_id,
                created_by=owner,
                api_key=origin.api_key,
                outcome=outcome,
                outcome_observed_at=when if outcome is not None else None,
                fingerprint=origin.fingerprints[i] if origin.fingerprints is not None else None,
                served_by=origin.served_by,
                subject_id=(origin.subjects[i] if origin.subjects is not None else None) or "",
            )
        )
    return records


_RECORDS, _SHADOWS = Record._meta.db_table, ShadowResult._meta.db_table
# The columns a backfill writes, with their PostgreSQL types for a binary COPY.
_COPY_COLUMNS = {
    "id": "uuid", "timestamp": "timestamptz", "model_version_id": "int8", "model_id": "varchar",
    "features_json": "jsonb", "embedding": "vector", "risk_score": "float8", "risk_label": "varchar",
    "base_log_odds": "float8", "drivers": "jsonb", "contributions": "float8[]", "request_id": "varchar",
    "outcome": "bool", "outcome_observed_at": "timestamptz", "fingerprint": "varchar",
    "served_by": "varchar", "subject_id": "varchar", "decision": "varchar", "reasons": "jsonb",
    "protected": "jsonb",
}  # fmt: skip


# An API record's INSERT writes those and who asked (the rest are database defaults or set later).
_INSERT_COLUMNS = (*_COPY_COLUMNS, "created_by_id", "api_key_id")
_JSON_COLUMNS = {"features_json", "drivers", "reasons", "protected"}
_vector_ready: weakref.WeakSet[psycopg.Connection[Any]] = (
    weakref.WeakSet()
)  # psycopg connections that know pgvector's type


def _vector_connection() -> psycopg.Connection[TupleRow]:
    """The default database's psycopg connection, with pgvector's types registered once per
    connection (registering looks the types up in the database)."""
    from pgvector.psycopg import register_vector

    connection.ensure_connection()
    raw: psycopg.Connection[TupleRow] = connection.connection
    if raw not in _vector_ready:
        register_vector(raw)
        _vector_ready.add(raw)
    return raw


def _insert_values(record: Record) -> list[object]:
    values = [getattr(record, column) for column in _INSERT_COLUMNS]
    return [Jsonb(v) if c in _JSON_COLUMNS else v for c, v in zip(_INSERT_COLUMNS, values, strict=True)]


_SHADOW_COLUMNS = (
    "record_id", "model_version_id", "risk_score", "risk_label", "base_log_odds", "drivers", "contributions",
    "created_at",
)  # fmt: skip


def _shadow_values(result: ShadowResult) -> list[object]:
    values = [getattr(result, column) for column in _SHADOW_COLUMNS]
    return [Jsonb(v) if c == "drivers" else v for c, v in zip(_SHADOW_COLUMNS, values, strict=True)]


MAX_PARAMETERS = 65_535  # a server-bound statement's limit (the protocol counts them in 16 bits)


def record_create_many(*, records: Sequence[Record], shadows: Sequence[ShadowResult] = ()) -> list[Record]:
    """One INSERT statement (atomic by itself): either every record exists afterwards or none does.
    A shadow challenger's results for them go in the same statement (a data-modifying CTE; the
    foreign key is checked at its end), so they cost no transaction of their own. A batch too big
    for one statement's parameters is split into statements in one transaction.

    Bound on the server, the vector in binary: the ORM's text rendering of 384 floats and its
    per-field SQL cost more than the rest of the insert."""
    if not records:
        return []
    per_record = len(_INSERT_COLUMNS) + 1 + (len(_SHADOW_COLUMNS) if shadows else 0)
    size = MAX_PARAMETERS // per_record
    if len(records) <= size:
        _insert(records, shadows)
    else:
        by_record: dict[uuid.UUID, list[ShadowResult]] = {}
        for result in shadows:
            by_record.setdefault(result.record_id, []).append(result)
        with transaction.atomic():
            for start in range(0, len(records), size):
                chunk = records[start : start + size]
                _insert(chunk, [result for record in chunk for result in by_record.get(record.pk, [])])
    for record in records:
        record._state.adding = False
        record._state.db = connection.alias
    return list(records)


def _insert(records: Sequence[Record], shadows: Sequence[ShadowResult]) -> None:
    raw = _vector_connection()
    placeholders = ", ".join(["%s"] * len(_INSERT_COLUMNS))
    row = f"({placeholders}, CASE WHEN %s::boolean IS NOT NULL THEN clock_timestamp() END)"
    params = [value for record in records for value in (*_insert_values(record), record.outcome)]
    shadow = ""
    if shadows:
        values = ", ".join(["(" + ", ".join(["%s"] * len(_SHADOW_COLUMNS)) + ")"] * len(shadows))
        shadow = f"WITH shadow AS (INSERT INTO {_SHADOWS} ({', '.join(_SHADOW_COLUMNS)}) VALUES {values}) "  # noqa: S608
        params = [value for result in shadows for value in _shadow_values(result)] + params
    # psycopg's own Cursor binds on the server; Django's cursor factory is a ClientCursor, which
    # would render every value into the SQL text, the vector as 384 floats.
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:  # Django's exceptions, as from the ORM
        cursor.execute(  # the columns are constants, the values parameters
            f"{shadow}INSERT INTO {_RECORDS} ({', '.join(_INSERT_COLUMNS)}, outcome_changed_at) "  # noqa: S608
            f"VALUES {', '.join([row] * len(records))}",
            params,
        )


def shadow_results_build(
    *, model: LoadedModel, records: Sequence[Record], predictions: Sequence[Prediction]
) -> list[ShadowResult]:
    return [
        ShadowResult(
            record=record,
            model_version_id=model.pk,
            risk_score=prediction.risk_score,
            risk_label=prediction.risk_label,
            base_log_odds=prediction.base_log_odds,
            drivers=prediction.drivers,
            contributions=prediction.contributions.tolist(),
            created_at=record.timestamp,
        )
        for record, prediction in zip(records, predictions, strict=True)
    ]


def record_insert_new(*, records: Sequence[Record]) -> int:
    """Insert the fingerprinted records not stored yet (COPY into a staging table, then
    ``INSERT ... ON CONFLICT DO NOTHING``), in one transaction. Returns how many were inserted."""
    columns = ", ".join(_COPY_COLUMNS)
    with transaction.atomic(), _vector_connection().cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS backfill_staging (LIKE {_RECORDS} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY backfill_staging ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(_COPY_COLUMNS.values()))
            for record in records:
                copy.write_row([getattr(record, column) for column in _COPY_COLUMNS])
        cursor.execute(  # the columns are constants, not input
            f"INSERT INTO {_RECORDS} ({columns}, outcome_changed_at) "  # noqa: S608
            f"SELECT {columns}, CASE WHEN outcome IS NOT NULL THEN clock_timestamp() END FROM backfill_staging "
            "ON CONFLICT (model_version_id, fingerprint) WHERE fingerprint IS NOT NULL DO NOTHING"
        )
        return int(cursor.rowcount)


def record_set_outcome(
    *, record: Record, outcome: bool, observed_at: datetime | None = None, user: Principal | None = None
) -> Record:
    """Record what really happened. Repeating the same outcome changes nothing (idempotent); a
    different outcome corrects the earlier one. The user who set it is kept."""
    if record.outcome == outcome and (observed_at is None or observed_at == record.outcome_observed_at):
        return record
    record.outcome = outcome
    record.outcome_observed_at = observed_at or timezone.now()
    record.outcome_set_by = user_or_none(user)
    Record.objects.filter(pk=record.pk).update(
        outcome=outcome,
        outcome_observed_at=record.outcome_observed_at,
        outcome_set_by=record.outcome_set_by,
        outcome_changed_at=ClockTimestamp(),
    )
    return record


def record_set_outcomes(*, outcomes: Sequence[tuple[uuid.UUID, bool, datetime]]) -> int:
    """Many outcomes at once, (record id, outcome, observed at) each, in one UPDATE; returns how many
    records changed. For bulk feeds (the demo history); one at a time is ``record_set_outcome``."""
    if not outcomes:
        return 0
    ids, values, times = zip(*outcomes, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_RECORDS} r SET outcome = v.o, outcome_observed_at = v.t, "  # noqa: S608
            "outcome_changed_at = clock_timestamp() "
            "FROM unnest(%s::uuid[], %s::bool[], %s::timestamptz[]) AS v(id, o, t) "
            "WHERE r.id = v.id AND r.outcome IS DISTINCT FROM v.o",
            [list(ids), list(values), list(times)],
        )
        return int(cursor.rowcount)

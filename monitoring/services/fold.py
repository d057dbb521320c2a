"""Monitoring writes: the fold of the record store into daily rollups, computed inside PostgreSQL.

One fold, in one transaction (serialised by an advisory lock):

1. ``upto``: the database clock two seconds ago, or the start of the oldest other transaction that
   has written anything, if earlier. A record's ``stored_at`` is the clock at its own write, never
   before its transaction's start, so every record stored before ``upto`` is committed and visible.
2. Versions whose reference profile changed since their rollups were folded are rebuilt from all
   their records up to the previous watermark.
3. Records stored in (watermark, upto] are added to their day's bin counts, SHAP sums and totals.
4. Days with an outcome changed in (watermark, upto] get their outcome sums and score cells
   recomputed whole.
5. The watermark moves to ``upto``.

A crash anywhere leaves the rollups and the watermark as they were before the fold.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from monitoring.binning import bins_sql
from monitoring.models import (
    BinDay,
    DayTotal,
    FairnessDay,
    FoldState,
    OutcomeDay,
    ScoreCellDay,
    ShapDay,
    VersionFold,
)
from monitoring.sql import BRIER_SQL, CELL_SQL, DAY_SQL, LOG_LOSS_SQL, SqlParams, SqlValue, T
from predictions.models import ModelVersion

SAFETY_SECONDS = 2
# Fairness rules' defaults (docs/decisions.md): the four-fifths rule warns; gaps in points of rate.
FAIRNESS_CRITICAL = 0.7
FAIRNESS_MIN_RECORDS = 200
GAP_WARNING, GAP_CRITICAL = 0.1, 0.2
_DAY = DAY_SQL


@dataclass
class FoldSummary:
    upto: datetime | None
    records: int  # records folded in (new, or re-read by a rebuild)
    outcome_days: int  # (version, day) pairs whose outcome sums were recomputed
    rebuilt: list[str]  # model ids rebuilt because their profile changed


def profile_sha256(profile: object) -> str:
    return hashlib.sha256(json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _upto(cursor: CursorWrapper) -> datetime:
    cursor.execute(
        "SELECT least(clock_timestamp() - make_interval(secs => %s), (SELECT min(xact_start) FROM pg_stat_activity"
        " WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()))",
        [SAFETY_SECONDS],
    )
    return cursor.fetchone()[0]  # type: ignore[no-any-return]  # a timestamptz


_ADD = {  # how a fold adds a day's new sums to the stored ones
    "count": "count + EXCLUDED.count",
    "n": "n + EXCLUDED.n",
    "shap_sum": "shap_sum + EXCLUDED.shap_sum",
    "abs_shap_sum": "abs_shap_sum + EXCLUDED.abs_shap_sum",
    "score_sum": "score_sum + EXCLUDED.score_sum",
    "decided": "decided + EXCLUDED.decided",
}


def _add_rows(
    cursor: CursorWrapper, table: str, columns: dict[str, str], key: list[str], select: str, params: SqlParams
) -> list[tuple[Any, ...]]:
    """Run an aggregating SELECT and add its rows (``columns``: name to SQL type, in the SELECT's
    order) to ``table``: a plain SELECT may run on parallel workers, an INSERT ... SELECT may not.
    Returns the rows."""
    cursor.execute(select, params)
    rows: list[tuple[Any, ...]] = cursor.fetchall()  # the SELECT's row, as the database gives it
    if not rows:
        return rows
    names = ", ".join(columns)
    arrays = ", ".join(f"%s::{sql_type}[]" for sql_type in columns.values())
    updates = ", ".join(f"{name} = {table}.{_ADD[name]}" for name in columns if name not in key)
    cursor.execute(  # names and types are constants of this module
        f"INSERT INTO {table} (model_version_id, {names}) SELECT %s, * FROM unnest({arrays}) "
        f"ON CONFLICT (model_version_id, {', '.join(key)}) DO UPDATE SET {updates}",
        [params["v"], *(list(column) for column in zip(*rows, strict=True))],
    )
    return rows


def _fold_records(cursor: CursorWrapper, version: ModelVersion, where: str, window: Mapping[str, SqlValue]) -> int:
    """Add the version's records matching ``where`` to its bins, SHAP sums and day totals; returns
    how many records that was."""
    profile = version.reference_profile
    params: SqlParams = {"v": version.pk, **window}
    bins = bins_sql(profile, params)
    names = [feature["name"] for feature in profile["features"]]
    selected = f"FROM {T.records} r WHERE r.model_version_id = %(v)s AND {where}"
    # MATERIALIZED: inlined, the plan sorts the whole rows and computes the bins on one core.
    _add_rows(
        cursor,
        T.bin_day,
        {"day": "date", "feature": "smallint", "bin": "smallint", "count": "bigint"},
        ["day", "feature", "bin"],
        f"WITH b AS MATERIALIZED (SELECT {_DAY} AS day, {bins} AS bins {selected}) "
        "SELECT b.day, u.i - 1, u.bin, count(*) FROM b, unnest(b.bins) WITH ORDINALITY AS u(bin, i) "
        "WHERE u.bin IS NOT NULL GROUP BY b.day, u.i, u.bin",
        params,
    )
    _fold_shap(cursor, version, where, params, names)
    totals = _add_rows(
        cursor,
        T.day_total,
        {"day": "date", "n": "bigint", "score_sum": "float8", "decided": "bigint"},
        ["day"],
        f"SELECT {_DAY}, count(*), sum(r.risk_score), count(*) FILTER (WHERE {_DECIDED}) {selected} GROUP BY 1",
        params,
    )
    _add_rows(
        cursor,
        T.fairness_day,
        _FAIRNESS_COLUMNS,
        ["day", "attribute", '"group"', "decision", "outcome"],
        f"SELECT {_DAY}, {_FAIRNESS_KEY}, count(*) FROM {T.records} r {_EACH_PROTECTED} "
        f"WHERE r.model_version_id = %(v)s AND {where} AND {_DECIDED} GROUP BY 1, 2, 3, 4, 5",
        params,
    )
    return sum(n for _, n, _, _ in totals)


_SHAP_COLUMNS = {"day": "date", "feature": "smallint", "n": "bigint", "shap_sum": "float8", "abs_shap_sum": "float8"}


def _fold_shap(cursor: CursorWrapper, version: ModelVersion, where: str, params: SqlParams, names: list[str]) -> None:
    """Add the records' contributions to the per-day SHAP sums: from the ``contributions`` array
    (one pass, a sum per feature), or from the drivers JSON for records stored without it."""
    schema = [spec["name"] for spec in version.feature_schema]
    columns = [f"r.contributions[{schema.index(name) + 1}]" for name in names]
    params = {**params, "names": names}
    counts = ", ".join(f"count({c})" for c in columns)
    sums = ", ".join(f"sum({c})" for c in columns)
    abs_sums = ", ".join(f"sum(abs({c}))" for c in columns)
    _add_rows(
        cursor,
        T.shap_day,
        _SHAP_COLUMNS,
        ["day", "feature"],
        "SELECT s.day, f.i - 1, f.n, f.c, f.a FROM ("
        f"SELECT {_DAY} AS day, ARRAY[{counts}] AS n, ARRAY[{sums}] AS c, ARRAY[{abs_sums}] AS a "
        f"FROM {T.records} r "
        f"WHERE r.model_version_id = %(v)s AND r.contributions IS NOT NULL AND {where} GROUP BY 1) s, "
        "unnest(s.n, s.c, s.a) WITH ORDINALITY AS f(n, c, a, i) WHERE f.n > 0",
        params,
    )
    # jsonb_to_recordset reads each driver once (twice as fast as ->> per key); names map to
    # indexes after the grouping, on the few grouped rows.
    _add_rows(
        cursor,
        T.shap_day,
        _SHAP_COLUMNS,
        ["day", "feature"],
        "SELECT s.day, array_position(%(names)s::text[], s.feature) - 1, s.n, s.c, s.a FROM ("
        f"SELECT {_DAY} AS day, d.feature, count(*) AS n, sum(d.contribution) AS c, sum(abs(d.contribution)) AS a "
        f"FROM {T.records} r, jsonb_to_recordset(r.drivers) AS d(feature text, contribution float8) "
        f"WHERE r.model_version_id = %(v)s AND r.contributions IS NULL AND {where} GROUP BY 1, 2) s "
        "WHERE array_position(%(names)s::text[], s.feature) IS NOT NULL",
        params,
    )


# A day's records stored up to the fold's ``upto``, for the days in the temporary table.
_DAY_RECORDS = (
    f"FROM monitoring_days t JOIN {T.records} r ON r.model_version_id = t.v "
    "AND r.timestamp >= t.day::timestamp AT TIME ZONE 'UTC' "
    "AND r.timestamp < (t.day + 1)::timestamp AT TIME ZONE 'UTC' AND r.stored_at <= %(upto)s "
)
_OUTCOME_RECORDS = f"{_DAY_RECORDS}AND r.outcome IS NOT NULL "
# Decided records per protected attribute, group, decision and outcome (-1 while unknown).
_FAIRNESS_COLUMNS = {
    "day": "date",
    "attribute": "text",
    '"group"': "text",
    "decision": "varchar",
    "outcome": "smallint",
    "n": "bigint",
}
_FAIRNESS_KEY = f"p.key, p.value, r.decision, coalesce(r.outcome::int, {FairnessDay.UNKNOWN})::smallint"
_DECIDED = "r.decision <> ''"  # a record scored before decisions has none
_EACH_PROTECTED = "CROSS JOIN LATERAL jsonb_each_text(r.protected) AS p(key, value)"


def _recompute_outcome_days(
    cursor: CursorWrapper, pairs_sql: str, params: SqlParams, upto: datetime, versions: dict[int, ModelVersion]
) -> int:
    """Replace the outcome sums and score cells of the (version, day) pairs ``pairs_sql`` selects
    (columns v, day), over the records stored up to ``upto`` (a record stored later is counted when
    it is folded)."""
    cursor.execute(f"CREATE TEMP TABLE monitoring_days ON COMMIT DROP AS {pairs_sql}", params)
    cursor.execute("ANALYZE monitoring_days")  # without statistics the join below is planned badly
    for model in (OutcomeDay, ScoreCellDay, FairnessDay):
        cursor.execute(
            f"DELETE FROM {model._meta.db_table} o USING monitoring_days t "
            "WHERE o.model_version_id = t.v AND o.day = t.day"
        )
    cursor.execute("SELECT v, count(*) FROM monitoring_days GROUP BY v")
    found = dict(cursor.fetchall())
    for pk in found:
        sums = {"upto": upto, "v": pk, "labels": list(versions[pk].reference_profile["label"]["labels"])}
        cursor.execute(
            f"INSERT INTO {T.outcome_day} (model_version_id, day, label, n, positives, score_sum, brier_sum, "
            "log_loss_sum) SELECT %(v)s, t.day, array_position(%(labels)s::text[], r.risk_label::text) - 1, "
            f"count(*), count(*) FILTER (WHERE r.outcome), sum(r.risk_score), sum({BRIER_SQL}), sum({LOG_LOSS_SQL}) "
            f"{_OUTCOME_RECORDS}WHERE t.v = %(v)s AND array_position(%(labels)s::text[], r.risk_label::text) "
            "IS NOT NULL GROUP BY 2, 3",
            sums,
        )
        cursor.execute(
            f"INSERT INTO {T.score_cell_day} (model_version_id, day, cell, n, positives, score_sum) "
            f"SELECT %(v)s, t.day, {CELL_SQL}, count(*), count(*) FILTER (WHERE r.outcome), "
            f"sum(r.risk_score) {_OUTCOME_RECORDS}WHERE t.v = %(v)s GROUP BY 2, 3",
            sums,
        )
        cursor.execute(
            f'INSERT INTO {T.fairness_day} (model_version_id, day, attribute, "group", decision, outcome, n) '
            f"SELECT %(v)s, t.day, {_FAIRNESS_KEY}, count(*) {_DAY_RECORDS}{_EACH_PROTECTED} "
            f"WHERE t.v = %(v)s AND {_DECIDED} GROUP BY 2, 3, 4, 5, 6",
            sums,
        )
    cursor.execute("DROP TABLE monitoring_days")
    return sum(found.values())


def _profiled_versions() -> dict[int, ModelVersion]:
    return {v.pk: v for v in ModelVersion.objects.exclude(reference_profile={}).defer("artifact").order_by("pk")}


def _rebuild(cursor: CursorWrapper, version: ModelVersion, before: datetime | None, upto: datetime) -> int:
    """Drop a version's rollups and fold all its records stored up to ``before`` again (and the
    outcomes of all its days, as of ``upto``)."""
    for model in (BinDay, ShapDay, DayTotal, OutcomeDay, ScoreCellDay, FairnessDay):
        cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE model_version_id = %s", [version.pk])
    folded = 0
    if before is not None:
        folded = _fold_records(cursor, version, "r.stored_at <= %(before)s", {"before": before})
    _recompute_outcome_days(
        cursor,
        f"SELECT DISTINCT r.model_version_id AS v, {_DAY} AS day FROM {T.records} r "
        "WHERE r.model_version_id = %(v)s AND r.outcome IS NOT NULL",
        {"v": version.pk},
        upto,
        {version.pk: version},
    )
    VersionFold.objects.update_or_create(
        model_version=version, defaults={"profile_sha256": profile_sha256(version.reference_profile)}
    )
    return folded


def _state(name: str) -> FoldState:
    state, _ = FoldState.objects.select_for_update().get_or_create(name=name)
    return state


def monitoring_fold() -> FoldSummary:
    """Fold what was stored or changed since the last fold (see the module's docstring)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('monitoring_fold'))")
        state = _state("records")
        upto = _upto(cursor)
        if state.upto is not None and upto <= state.upto:
            return FoldSummary(upto=state.upto, records=0, outcome_days=0, rebuilt=[])
        versions = _profiled_versions()
        folded_with = dict(VersionFold.objects.values_list("model_version_id", "profile_sha256"))
        rebuilt, records = [], 0
        for pk, version in versions.items():
            if folded_with.get(pk) != profile_sha256(version.reference_profile):
                records += _rebuild(cursor, version, state.upto, upto)
                rebuilt.append(version.model_id)
        since: SqlParams = {"since": state.upto, "upto": upto}
        new_range = "r.stored_at <= %(upto)s" + (" AND r.stored_at > %(since)s" if state.upto else "")
        for version in versions.values():
            records += _fold_records(cursor, version, new_range, since)
        changed = "r.outcome_changed_at <= %(upto)s" + (" AND r.outcome_changed_at > %(since)s" if state.upto else "")
        # A rebuilt version's days were all recomputed as of upto just now.
        current = [pk for pk, v in versions.items() if v.model_id not in rebuilt]
        outcome_days = _recompute_outcome_days(
            cursor,
            f"SELECT DISTINCT r.model_version_id AS v, {_DAY} AS day FROM {T.records} r "
            f"WHERE r.outcome_changed_at IS NOT NULL AND {changed} AND r.model_version_id = ANY(%(versions)s)",
            {**since, "versions": current},
            upto,
            versions,
        )
        state.upto = upto
        state.save(update_fields=["upto", "updated_at"])
        return FoldSummary(upto=upto, records=records, outcome_days=outcome_days, rebuilt=rebuilt)

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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from monitoring.binning import BRIER_SQL, CELL_SQL, DAY_SQL, LOG_LOSS_SQL, bins_sql
from monitoring.models import BinDay, DayTotal, FoldState, OutcomeDay, ScoreCellDay, ShapDay, VersionFold
from predictions.models import ModelVersion

SAFETY_SECONDS = 2
_DAY = DAY_SQL


@dataclass
class FoldSummary:
    upto: datetime | None
    records: int  # records folded in (new, or re-read by a rebuild)
    outcome_days: int  # (version, day) pairs whose outcome sums were recomputed
    rebuilt: list[str]  # model ids rebuilt because their profile changed


def profile_sha256(profile: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _upto(cursor: Any) -> datetime:
    cursor.execute(
        "SELECT least(clock_timestamp() - make_interval(secs => %s), (SELECT min(xact_start) FROM pg_stat_activity"
        " WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()))",
        [SAFETY_SECONDS],
    )
    return cursor.fetchone()[0]  # type: ignore[no-any-return]  # a timestamptz


def _fold_records(cursor: Any, version: ModelVersion, where: str, window: dict[str, Any]) -> int:
    """Add the version's records matching ``where`` to its bins, SHAP sums and day totals; returns
    how many records that was."""
    profile = version.reference_profile
    params: dict[str, Any] = {"v": version.pk, **window}
    bins = bins_sql(profile, params)
    params["names"] = [feature["name"] for feature in profile["features"]]
    selected = f"FROM records_record r WHERE r.model_version_id = %(v)s AND {where}"
    cursor.execute(
        "INSERT INTO monitoring_binday (model_version_id, day, feature, bin, count) "
        f"SELECT %(v)s, b.day, (u.i - 1)::smallint, u.bin, count(*) FROM (SELECT {_DAY} AS day, {bins} AS bins "
        f"{selected}) b, unnest(b.bins) WITH ORDINALITY AS u(bin, i) WHERE u.bin IS NOT NULL "
        "GROUP BY b.day, u.i, u.bin ON CONFLICT (model_version_id, day, feature, bin) "
        "DO UPDATE SET count = monitoring_binday.count + EXCLUDED.count",
        params,
    )
    cursor.execute(
        "INSERT INTO monitoring_shapday (model_version_id, day, feature, n, shap_sum, abs_shap_sum) "
        "SELECT %(v)s, s.day, s.feature, count(*), sum(s.c), sum(abs(s.c)) FROM ("
        f"SELECT {_DAY} AS day, (array_position(%(names)s::text[], d ->> 'feature') - 1)::smallint AS feature, "
        "(d ->> 'contribution')::float8 AS c FROM records_record r, jsonb_array_elements(r.drivers) d "
        f"WHERE r.model_version_id = %(v)s AND {where}) s WHERE s.feature IS NOT NULL GROUP BY s.day, s.feature "
        "ON CONFLICT (model_version_id, day, feature) DO UPDATE SET n = monitoring_shapday.n + EXCLUDED.n, "
        "shap_sum = monitoring_shapday.shap_sum + EXCLUDED.shap_sum, "
        "abs_shap_sum = monitoring_shapday.abs_shap_sum + EXCLUDED.abs_shap_sum",
        params,
    )
    cursor.execute(
        f"WITH agg AS (SELECT {_DAY} AS day, count(*) AS n, sum(r.risk_score) AS score_sum {selected} GROUP BY 1), "
        "ins AS (INSERT INTO monitoring_daytotal (model_version_id, day, n, score_sum) "
        "SELECT %(v)s, day, n, score_sum FROM agg ON CONFLICT (model_version_id, day) DO UPDATE SET "
        "n = monitoring_daytotal.n + EXCLUDED.n, score_sum = monitoring_daytotal.score_sum + EXCLUDED.score_sum) "
        "SELECT coalesce(sum(n), 0) FROM agg",
        params,
    )
    return int(cursor.fetchone()[0])


_OUTCOME_RECORDS = (
    "FROM monitoring_days t JOIN records_record r ON r.model_version_id = t.v "
    "AND r.timestamp >= t.day::timestamp AT TIME ZONE 'UTC' "
    "AND r.timestamp < (t.day + 1)::timestamp AT TIME ZONE 'UTC' AND r.outcome IS NOT NULL "
    "AND r.stored_at <= %(upto)s "
)


def _recompute_outcome_days(cursor: Any, pairs_sql: str, params: dict[str, Any], upto: datetime) -> int:
    """Replace the outcome sums and score cells of the (version, day) pairs ``pairs_sql`` selects
    (columns v, day), over the records stored up to ``upto`` (a record stored later is counted when
    it is folded)."""
    cursor.execute(f"CREATE TEMP TABLE monitoring_days ON COMMIT DROP AS {pairs_sql}", params)
    for model in (OutcomeDay, ScoreCellDay):
        cursor.execute(
            f"DELETE FROM {model._meta.db_table} o USING monitoring_days t "
            "WHERE o.model_version_id = t.v AND o.day = t.day"
        )
    sums = {"upto": upto}
    cursor.execute(
        "INSERT INTO monitoring_outcomeday (model_version_id, day, label, n, positives, score_sum, brier_sum, "
        "log_loss_sum) SELECT r.model_version_id, t.day, array_position(p.labels, r.risk_label::text) - 1, "
        f"count(*), count(*) FILTER (WHERE r.outcome), sum(r.risk_score), sum({BRIER_SQL}), sum({LOG_LOSS_SQL}) "
        f"{_OUTCOME_RECORDS}"
        "JOIN (SELECT id, ARRAY(SELECT jsonb_array_elements_text(reference_profile -> 'label' -> 'labels')) AS labels "
        "FROM predictions_modelversion) p ON p.id = r.model_version_id "
        "WHERE array_position(p.labels, r.risk_label::text) IS NOT NULL GROUP BY 1, 2, 3",
        sums,
    )
    cursor.execute(
        "INSERT INTO monitoring_scorecellday (model_version_id, day, cell, n, positives, score_sum) "
        f"SELECT r.model_version_id, t.day, {CELL_SQL}, count(*), count(*) FILTER (WHERE r.outcome), "
        f"sum(r.risk_score) {_OUTCOME_RECORDS}GROUP BY 1, 2, 3",
        sums,
    )
    cursor.execute("SELECT count(*) FROM monitoring_days")
    count = int(cursor.fetchone()[0])
    cursor.execute("DROP TABLE monitoring_days")
    return count


def _profiled_versions() -> dict[int, ModelVersion]:
    return {v.pk: v for v in ModelVersion.objects.exclude(reference_profile={}).order_by("pk")}


def _rebuild(cursor: Any, version: ModelVersion, before: datetime | None, upto: datetime) -> int:
    """Drop a version's rollups and fold all its records stored up to ``before`` again (and the
    outcomes of all its days, as of ``upto``)."""
    for model in (BinDay, ShapDay, DayTotal, OutcomeDay, ScoreCellDay):
        cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE model_version_id = %s", [version.pk])
    folded = 0
    if before is not None:
        folded = _fold_records(cursor, version, "r.stored_at <= %(before)s", {"before": before})
    _recompute_outcome_days(
        cursor,
        f"SELECT DISTINCT r.model_version_id AS v, {_DAY} AS day FROM records_record r "
        "WHERE r.model_version_id = %(v)s AND r.outcome IS NOT NULL",
        {"v": version.pk},
        upto,
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
        since = {"since": state.upto, "upto": upto}
        new_range = "r.stored_at <= %(upto)s" + (" AND r.stored_at > %(since)s" if state.upto else "")
        for version in versions.values():
            records += _fold_records(cursor, version, new_range, since)
        changed = "r.outcome_changed_at <= %(upto)s" + (" AND r.outcome_changed_at > %(since)s" if state.upto else "")
        outcome_days = _recompute_outcome_days(
            cursor,
            f"SELECT DISTINCT r.model_version_id AS v, {_DAY} AS day FROM records_record r "
            f"WHERE r.outcome_changed_at IS NOT NULL AND {changed} AND r.model_version_id = ANY(%(versions)s)",
            {**since, "versions": list(versions)},
            upto,
        )
        state.upto = upto
        state.save(update_fields=["upto", "updated_at"])
        return FoldSummary(upto=upto, records=records, outcome_days=outcome_days, rebuilt=rebuilt)

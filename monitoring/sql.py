"""The SQL fragments monitoring composes its queries from.

Table names come from the models' ``_meta``, so that every table a query reads is an import the
layer contract sees; the record columns a fragment uses are checked against ``Record`` by
``monitoring/tests/test_sql.py``. Every value (names, edges, choices, times) is a bound parameter.
"""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

from monitoring.models import BinDay, DayTotal, FairnessDay, OutcomeDay, ScoreCellDay, ShapDay
from monitoring.stats import SCORE_CELLS
from records.models import Record

T = SimpleNamespace(
    records=Record._meta.db_table,
    bin_day=BinDay._meta.db_table,
    shap_day=ShapDay._meta.db_table,
    day_total=DayTotal._meta.db_table,
    outcome_day=OutcomeDay._meta.db_table,
    score_cell_day=ScoreCellDay._meta.db_table,
    fairness_day=FairnessDay._meta.db_table,
)
"""The tables, by role."""

# A value psycopg binds (never formatted into the SQL), and a query's named parameters.
SqlValue = bool | int | float | str | date | datetime | list[str] | list[float] | list[int] | None
SqlParams = dict[str, SqlValue]

LOG_LOSS_EPSILON = 1e-15
# A record's UTC day, score cell, squared error and log loss (scores clipped to [eps, 1 - eps]).
DAY_SQL = "(r.timestamp AT TIME ZONE 'UTC')::date"
CELL_SQL = f"least(floor(r.risk_score * {SCORE_CELLS}), {SCORE_CELLS - 1})::smallint"
BRIER_SQL = "(r.risk_score - r.outcome::int) ^ 2"
LOG_LOSS_SQL = (
    f"-ln(CASE WHEN r.outcome THEN greatest(r.risk_score, {LOG_LOSS_EPSILON!r}) "
    f"ELSE greatest(1 - r.risk_score, {LOG_LOSS_EPSILON!r}) END)"
)
# The records of one version in [start, end) (dates, UTC days).
_IN_WINDOW = (
    "r.model_version_id = %(v)s AND r.timestamp >= %(start)s::timestamp AT TIME ZONE 'UTC' "
    "AND r.timestamp < %(end)s::timestamp AT TIME ZONE 'UTC'"
)
WINDOW_RECORDS = f"FROM {T.records} r WHERE {_IN_WINDOW}"
# ... and of one segment (a categorical feature's value).
SEGMENT_RECORDS = f"{WINDOW_RECORDS} AND r.features_json ->> %(sf)s = %(sv)s"
# ... and of many segments at once (features %(sf)s and values %(sv)s, arrays): a record once per
# segment it is in, with the segment's number in s.i (from 1).
SEGMENTS_RECORDS = (
    f"FROM {T.records} r JOIN unnest(%(sf)s::text[], %(sv)s::text[]) WITH ORDINALITY AS s(feature, value, i) "
    f"ON r.features_json ->> s.feature = s.value WHERE {_IN_WINDOW}"
)

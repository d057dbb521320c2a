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
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import ApplicationError
from monitoring import stats
from monitoring.binning import BRIER_SQL, CELL_SQL, DAY_SQL, LOG_LOSS_SQL, bins_sql
from monitoring.fairness import FOUR_FIFTHS
from monitoring.models import (
    Alert,
    AlertRule,
    BinDay,
    DayTotal,
    Delivery,
    DeliveryAttempt,
    FoldState,
    OutcomeDay,
    ScoreCellDay,
    ShapDay,
    VersionFold,
    Webhook,
)
from monitoring.selectors import LOWER_IS_WORSE, alert_metric
from monitoring.webhooks import webhook_post
from predictions.models import ModelVersion, Release
from predictions.selectors import loaded_model_get
from predictions.services import DEMO_MODEL_NAME
from records.models import Record
from records.prediction import prediction_create
from records.services import record_set_outcomes

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


def profile_sha256(profile: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _upto(cursor: Any) -> datetime:
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
}


def _add_rows(cursor: Any, table: str, columns: dict[str, str], key: list[str], select: str, params: Any) -> list[Any]:
    """Run an aggregating SELECT and add its rows (``columns``: name to SQL type, in the SELECT's
    order) to ``table``: a plain SELECT may run on parallel workers, an INSERT ... SELECT may not.
    Returns the rows."""
    cursor.execute(select, params)
    rows: list[Any] = cursor.fetchall()
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


def _fold_records(cursor: Any, version: ModelVersion, where: str, window: dict[str, Any]) -> int:
    """Add the version's records matching ``where`` to its bins, SHAP sums and day totals; returns
    how many records that was."""
    profile = version.reference_profile
    params: dict[str, Any] = {"v": version.pk, **window}
    bins = bins_sql(profile, params)
    params["names"] = [feature["name"] for feature in profile["features"]]
    selected = f"FROM records_record r WHERE r.model_version_id = %(v)s AND {where}"
    # MATERIALIZED: inlined, the plan sorts the whole rows and computes the bins on one core.
    _add_rows(
        cursor,
        "monitoring_binday",
        {"day": "date", "feature": "smallint", "bin": "smallint", "count": "bigint"},
        ["day", "feature", "bin"],
        f"WITH b AS MATERIALIZED (SELECT {_DAY} AS day, {bins} AS bins {selected}) "
        "SELECT b.day, u.i - 1, u.bin, count(*) FROM b, unnest(b.bins) WITH ORDINALITY AS u(bin, i) "
        "WHERE u.bin IS NOT NULL GROUP BY b.day, u.i, u.bin",
        params,
    )
    _fold_shap(cursor, version, where, params)
    totals = _add_rows(
        cursor,
        "monitoring_daytotal",
        {"day": "date", "n": "bigint", "score_sum": "float8"},
        ["day"],
        f"SELECT {_DAY}, count(*), sum(r.risk_score) {selected} GROUP BY 1",
        params,
    )
    return sum(n for _, n, _ in totals)


_SHAP_COLUMNS = {"day": "date", "feature": "smallint", "n": "bigint", "shap_sum": "float8", "abs_shap_sum": "float8"}


def _fold_shap(cursor: Any, version: ModelVersion, where: str, params: dict[str, Any]) -> None:
    """Add the records' contributions to the per-day SHAP sums: from the ``contributions`` array
    (one pass, a sum per feature), or from the drivers JSON for records stored without it."""
    schema = [spec["name"] for spec in version.feature_schema]
    columns = [f"r.contributions[{schema.index(name) + 1}]" for name in params["names"]]
    counts = ", ".join(f"count({c})" for c in columns)
    sums = ", ".join(f"sum({c})" for c in columns)
    abs_sums = ", ".join(f"sum(abs({c}))" for c in columns)
    _add_rows(
        cursor,
        "monitoring_shapday",
        _SHAP_COLUMNS,
        ["day", "feature"],
        "SELECT s.day, f.i - 1, f.n, f.c, f.a FROM ("
        f"SELECT {_DAY} AS day, ARRAY[{counts}] AS n, ARRAY[{sums}] AS c, ARRAY[{abs_sums}] AS a "
        "FROM records_record r "
        f"WHERE r.model_version_id = %(v)s AND r.contributions IS NOT NULL AND {where} GROUP BY 1) s, "
        "unnest(s.n, s.c, s.a) WITH ORDINALITY AS f(n, c, a, i) WHERE f.n > 0",
        params,
    )
    # jsonb_to_recordset reads each driver once (twice as fast as ->> per key); names map to
    # indexes after the grouping, on the few grouped rows.
    _add_rows(
        cursor,
        "monitoring_shapday",
        _SHAP_COLUMNS,
        ["day", "feature"],
        "SELECT s.day, array_position(%(names)s::text[], s.feature) - 1, s.n, s.c, s.a FROM ("
        f"SELECT {_DAY} AS day, d.feature, count(*) AS n, sum(d.contribution) AS c, sum(abs(d.contribution)) AS a "
        "FROM records_record r, jsonb_to_recordset(r.drivers) AS d(feature text, contribution float8) "
        f"WHERE r.model_version_id = %(v)s AND r.contributions IS NULL AND {where} GROUP BY 1, 2) s "
        "WHERE array_position(%(names)s::text[], s.feature) IS NOT NULL",
        params,
    )


_OUTCOME_RECORDS = (
    "FROM monitoring_days t JOIN records_record r ON r.model_version_id = t.v "
    "AND r.timestamp >= t.day::timestamp AT TIME ZONE 'UTC' "
    "AND r.timestamp < (t.day + 1)::timestamp AT TIME ZONE 'UTC' AND r.outcome IS NOT NULL "
    "AND r.stored_at <= %(upto)s "
)


def _recompute_outcome_days(
    cursor: Any, pairs_sql: str, params: dict[str, Any], upto: datetime, versions: dict[int, ModelVersion]
) -> int:
    """Replace the outcome sums and score cells of the (version, day) pairs ``pairs_sql`` selects
    (columns v, day), over the records stored up to ``upto`` (a record stored later is counted when
    it is folded)."""
    cursor.execute(f"CREATE TEMP TABLE monitoring_days ON COMMIT DROP AS {pairs_sql}", params)
    cursor.execute("ANALYZE monitoring_days")  # without statistics the join below is planned badly
    for model in (OutcomeDay, ScoreCellDay):
        cursor.execute(
            f"DELETE FROM {model._meta.db_table} o USING monitoring_days t "
            "WHERE o.model_version_id = t.v AND o.day = t.day"
        )
    cursor.execute("SELECT v, count(*) FROM monitoring_days GROUP BY v")
    found = dict(cursor.fetchall())
    for pk in found:
        sums = {"upto": upto, "v": pk, "labels": list(versions[pk].reference_profile["label"]["labels"])}
        cursor.execute(
            "INSERT INTO monitoring_outcomeday (model_version_id, day, label, n, positives, score_sum, brier_sum, "
            "log_loss_sum) SELECT %(v)s, t.day, array_position(%(labels)s::text[], r.risk_label::text) - 1, "
            f"count(*), count(*) FILTER (WHERE r.outcome), sum(r.risk_score), sum({BRIER_SQL}), sum({LOG_LOSS_SQL}) "
            f"{_OUTCOME_RECORDS}WHERE t.v = %(v)s AND array_position(%(labels)s::text[], r.risk_label::text) "
            "IS NOT NULL GROUP BY 2, 3",
            sums,
        )
        cursor.execute(
            "INSERT INTO monitoring_scorecellday (model_version_id, day, cell, n, positives, score_sum) "
            f"SELECT %(v)s, t.day, {CELL_SQL}, count(*), count(*) FILTER (WHERE r.outcome), "
            f"sum(r.risk_score) {_OUTCOME_RECORDS}WHERE t.v = %(v)s GROUP BY 2, 3",
            sums,
        )
    cursor.execute("DROP TABLE monitoring_days")
    return sum(found.values())


def _profiled_versions() -> dict[int, ModelVersion]:
    return {v.pk: v for v in ModelVersion.objects.exclude(reference_profile={}).defer("artifact").order_by("pk")}


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
        since = {"since": state.upto, "upto": upto}
        new_range = "r.stored_at <= %(upto)s" + (" AND r.stored_at > %(since)s" if state.upto else "")
        for version in versions.values():
            records += _fold_records(cursor, version, new_range, since)
        changed = "r.outcome_changed_at <= %(upto)s" + (" AND r.outcome_changed_at > %(since)s" if state.upto else "")
        # A rebuilt version's days were all recomputed as of upto just now.
        current = [pk for pk, v in versions.items() if v.model_id not in rebuilt]
        outcome_days = _recompute_outcome_days(
            cursor,
            f"SELECT DISTINCT r.model_version_id AS v, {_DAY} AS day FROM records_record r "
            f"WHERE r.outcome_changed_at IS NOT NULL AND {changed} AND r.model_version_id = ANY(%(versions)s)",
            {**since, "versions": current},
            upto,
            versions,
        )
        state.upto = upto
        state.save(update_fields=["upto", "updated_at"])
        return FoldSummary(upto=upto, records=records, outcome_days=outcome_days, rebuilt=rebuilt)


# --- Alerts ---------------------------------------------------------------------------------


class AlertActionError(ApplicationError):
    code = "invalid_alert_action"
    status = 409


@dataclass
class EvaluationSummary:
    opened: int = 0
    escalated: int = 0
    resolved: int = 0
    cooling_down: int = 0  # breaches not alerted because the rule fired within its cooldown


def alert_rules_ensure(*, model_version: ModelVersion) -> list[AlertRule]:
    """The model's rules, creating the defaults (docs/monitoring.md) for metrics it has none for."""
    holdout_auc = float(model_version.metrics.get("roc_auc", 0.75))
    defaults = {
        "feature_psi": (stats.PSI_WARNING, stats.PSI_CRITICAL, stats.MIN_RECORDS),
        "score_psi": (stats.PSI_WARNING, stats.PSI_CRITICAL, stats.MIN_RECORDS),
        "label_psi": (stats.PSI_WARNING, stats.PSI_CRITICAL, stats.MIN_RECORDS),
        "auc": (round(holdout_auc - 0.05, 3), round(holdout_auc - 0.10, 3), stats.MIN_OUTCOMES),
        "ece": (0.05, 0.10, stats.MIN_OUTCOMES),
        "adverse_impact": (FOUR_FIFTHS, FAIRNESS_CRITICAL, FAIRNESS_MIN_RECORDS),
        "tpr_gap": (GAP_WARNING, GAP_CRITICAL, stats.MIN_OUTCOMES),
        "fpr_gap": (GAP_WARNING, GAP_CRITICAL, stats.MIN_OUTCOMES),
    }
    for metric, (warning, critical, minimum) in defaults.items():
        AlertRule.objects.get_or_create(
            model_name=model_version.name,
            metric=metric,
            defaults={"warning": warning, "critical": critical, "min_records": minimum},
        )
    return list(AlertRule.objects.filter(model_name=model_version.name).order_by("id"))


def _severity(rule: AlertRule, value: float) -> str | None:
    sign = -1.0 if rule.metric in LOWER_IS_WORSE else 1.0
    if sign * value >= sign * rule.critical:
        return Alert.Severity.CRITICAL
    if sign * value >= sign * rule.warning:
        return Alert.Severity.WARNING
    return None


def _judge(
    rule: AlertRule, version: ModelVersion, today: date, reports: dict[tuple[Any, ...], Any]
) -> tuple[str, float, date, date]:
    """The severity all of the rule's last ``consecutive`` windows reach ("ok" if any breaches
    nothing, "too_few" if any has too few records to judge), with the latest window and its value.
    Window k covers the ``window_days`` days ending k days before tomorrow."""
    end = today + timedelta(days=1)
    severities: list[str | None] = []
    latest: tuple[float, date, date] | None = None
    for k in range(rule.consecutive):
        stop = end - timedelta(days=k)
        start = stop - timedelta(days=rule.window_days)
        value = alert_metric(
            metric=rule.metric,
            model_version=version,
            start=start,
            end=stop,
            min_records=rule.min_records,
            reports=reports,
        )
        if latest is None:
            latest = (value.value, start, stop)
        severities.append(_severity(rule, value.value) if value.enough else "too_few")
    assert latest is not None  # consecutive >= 1
    if "too_few" in severities:
        return "too_few", *latest
    if None in severities:
        return "ok", *latest
    critical = all(s == Alert.Severity.CRITICAL for s in severities)
    return (Alert.Severity.CRITICAL if critical else Alert.Severity.WARNING), *latest


def _payload(alert: Alert, event: str) -> dict[str, Any]:
    return {
        "event": event,
        "alert": {
            "id": alert.pk,
            "model_id": alert.model_version.model_id,
            "metric": alert.rule.metric,
            "severity": alert.severity,
            "status": alert.status,
            "value": alert.value,
            "threshold": alert.threshold,
            "window_start": alert.window_start.isoformat(),
            "window_end": alert.window_end.isoformat(),
            "message": alert.message,
            "opened_at": alert.opened_at.isoformat(),
        },
    }


def _enqueue_deliveries(alert: Alert, event: str, now: datetime) -> None:
    payload = _payload(alert, event)
    Delivery.objects.bulk_create(
        Delivery(alert=alert, webhook=webhook, event=event, payload=payload, next_attempt_at=now)
        for webhook in Webhook.objects.filter(enabled=True)
    )


def _message(rule: AlertRule, severity: str, value: float, start: date, end: date) -> str:
    threshold = rule.critical if severity == Alert.Severity.CRITICAL else rule.warning
    relation = "below" if rule.metric in LOWER_IS_WORSE else "at or above"
    return (
        f"{rule.model_name}: {rule.get_metric_display()} {value:.3f} is {relation} the {severity} threshold "
        f"{threshold:g} in {rule.consecutive} window(s) of {rule.window_days} days up to {end - timedelta(days=1)}"
    )


def _apply(
    rule: AlertRule,
    version: ModelVersion,
    today: date,
    now: datetime,
    summary: EvaluationSummary,
    reports: dict[tuple[Any, ...], Any],
) -> None:
    severity, value, start, end = _judge(rule, version, today, reports)
    if severity == "too_few":  # no evidence either way: an open alert stays open
        return
    current = Alert.objects.filter(rule=rule, model_version=version).exclude(status=Alert.Status.RESOLVED).first()
    if severity == "ok":
        if current is not None:
            Alert.objects.filter(pk=current.pk).update(status=Alert.Status.RESOLVED, resolved_at=now, value=value)
            summary.resolved += 1
        return
    threshold = rule.critical if severity == Alert.Severity.CRITICAL else rule.warning
    fields = {"value": value, "window_start": start, "window_end": end, "threshold": threshold}
    message = _message(rule, severity, value, start, end)
    if current is not None:
        escalated = severity == Alert.Severity.CRITICAL and current.severity == Alert.Severity.WARNING
        Alert.objects.filter(pk=current.pk).update(
            **fields, **({"severity": severity, "message": message} if escalated else {})
        )
        if escalated:
            current.refresh_from_db()
            _enqueue_deliveries(current, "alert.escalated", now)
            summary.escalated += 1
        return
    if rule.last_fired_at and now - rule.last_fired_at < timedelta(minutes=rule.cooldown_minutes):
        summary.cooling_down += 1
        return
    alert = Alert.objects.create(rule=rule, model_version=version, severity=severity, message=message, **fields)
    AlertRule.objects.filter(pk=rule.pk).update(last_fired_at=now)
    _enqueue_deliveries(alert, "alert.opened", now)
    summary.opened += 1


def alerts_evaluate(*, today: date | None = None, now: datetime | None = None) -> EvaluationSummary:
    """Judge every enabled rule of every production model with a profile, on the current rollups:
    open, escalate or resolve its alert, and queue the webhook deliveries."""
    now = now or timezone.now()
    today = today or now.astimezone(UTC).date()
    summary = EvaluationSummary()
    reports: dict[tuple[Any, ...], Any] = {}  # the rules of a model share their windows' reports
    with transaction.atomic():
        # the production versions, and the challengers serving a canary (their drift can roll them back)
        canaries = Release.objects.filter(mode=Release.Mode.CANARY).values("challenger_id")
        judged = ModelVersion.objects.filter(Q(status=ModelVersion.Status.PRODUCTION) | Q(pk__in=canaries))
        for version in judged.exclude(reference_profile={}).defer("artifact").order_by("name", "version"):
            for rule in alert_rules_ensure(model_version=version):
                if rule.enabled and rule.metric != AlertRule.Metric.RELEASE:  # raised by the release guard
                    _apply(rule, version, today, now, summary, reports)
    return summary


def alert_raise(
    *,
    model_version: ModelVersion,
    metric: str,
    value: float,
    threshold: float,
    message: str,
    now: datetime | None = None,
) -> Alert:
    """Open (or update) a critical alert raised by another part of the service (the release guard),
    with its webhook deliveries queued like any other alert's."""
    now = now or timezone.now()
    rule, _ = AlertRule.objects.get_or_create(
        model_name=model_version.name,
        metric=metric,
        defaults={
            "warning": threshold,
            "critical": threshold,
            "min_records": 0,
            "window_days": 1,
            "cooldown_minutes": 0,
        },
    )
    day = now.astimezone(UTC).date()
    fields = {"value": value, "threshold": threshold, "message": message[:300], "window_start": day}
    with transaction.atomic():
        current = Alert.objects.filter(rule=rule, model_version=model_version).exclude(status=Alert.Status.RESOLVED)
        alert = current.select_for_update().first()
        if alert is not None:
            Alert.objects.filter(pk=alert.pk).update(**fields)
            alert.refresh_from_db()
            return alert
        alert = Alert.objects.create(
            rule=rule,
            model_version=model_version,
            severity=Alert.Severity.CRITICAL,
            window_end=day + timedelta(days=1),
            **fields,
        )
        AlertRule.objects.filter(pk=rule.pk).update(last_fired_at=now)
        _enqueue_deliveries(alert, "alert.opened", now)
    return alert


def alert_acknowledge(*, alert: Alert, user: Any) -> Alert:
    """An open alert, acknowledged by ``user`` (it stays unresolved)."""
    updated = Alert.objects.filter(pk=alert.pk, status=Alert.Status.OPEN).update(
        status=Alert.Status.ACKNOWLEDGED, acknowledged_at=timezone.now(), acknowledged_by=user
    )
    if not updated:
        raise AlertActionError(f"alert {alert.pk} is {alert.status}, not open")
    alert.refresh_from_db()
    return alert


def alert_resolve(*, alert: Alert, user: Any) -> Alert:
    updated = (
        Alert.objects.filter(pk=alert.pk)
        .exclude(status=Alert.Status.RESOLVED)
        .update(status=Alert.Status.RESOLVED, resolved_at=timezone.now(), resolved_by=user)
    )
    if not updated:
        raise AlertActionError(f"alert {alert.pk} is already resolved")
    alert.refresh_from_db()
    return alert


# --- Webhooks -------------------------------------------------------------------------------


def webhook_create(*, url: str, user: Any) -> Webhook:
    """A webhook for every alert, with a new random signing secret."""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ApplicationError("url must be an http:// or https:// address", fields={"url": "not an http(s) URL"})
    return Webhook.objects.create(url=url, secret=secrets.token_urlsafe(32), created_by=user)


def _attempt(delivery: Delivery, now: datetime) -> bool:
    result = webhook_post(
        url=delivery.webhook.url,
        secret=delivery.webhook.secret,
        payload=delivery.payload,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    DeliveryAttempt.objects.create(
        delivery=delivery, status_code=result.status_code, error=result.error, duration_ms=result.duration_ms
    )
    delivery.attempts += 1
    if result.ok:
        delivery.status = Delivery.Status.DELIVERED
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = Delivery.Status.FAILED
    else:
        delay = settings.WEBHOOK_RETRY_SECONDS * 2 ** (delivery.attempts - 1)
        delivery.next_attempt_at = now + timedelta(seconds=delay)
    delivery.save(update_fields=["attempts", "status", "next_attempt_at"])
    return result.ok


def webhook_deliveries_send(*, now: datetime | None = None, limit: int = 50) -> tuple[int, int]:
    """POST every delivery that is due (each row locked while it is sent, so two schedulers never
    send one twice); returns (delivered, failed attempts)."""
    now = now or timezone.now()
    delivered = failed = 0
    for _ in range(limit):
        with transaction.atomic():
            delivery = (
                Delivery.objects.select_for_update(skip_locked=True)
                .select_related("webhook")
                .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "id")
                .first()
            )
            if delivery is None:
                break
            if _attempt(delivery, now):
                delivered += 1
            else:
                failed += 1
    return delivered, failed


def webhook_toggle(*, webhook_id: int) -> Webhook:
    """Enable a disabled webhook, or disable an enabled one (a 404 if there is none)."""
    webhook = Webhook.objects.filter(pk=webhook_id).first()
    if webhook is None:
        raise ApplicationError("No such webhook.", code="not_found", status=404)
    webhook.enabled = not webhook.enabled
    webhook.save(update_fields=["enabled"])
    return webhook


# --- The demo history -------------------------------------------------------------------------

HISTORY_PREFIX = "demo-history"
SHIFT_DAYS = 30  # the last 30 days ask for longer, larger loans


@dataclass
class HistorySummary:
    last_day: date
    days_seeded: int
    records: int
    outcomes: int


def _history_rows(
    rng: np.random.Generator, pool: list[tuple[dict[str, Any], dict[str, Any]]], n: int, shifted: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``n`` applicants drawn from the pool: their features and their protected attributes."""
    picked = [pool[i] for i in rng.integers(0, len(pool), n)]
    rows = [dict(features) for features, _ in picked]
    if shifted:
        for row in rows:
            row["duration_in_month"] = min(72, round(row["duration_in_month"] * 1.5))
            row["credit_amount"] = row["credit_amount"] * 2
    return rows, [dict(protected) for _, protected in picked]


def _history_day(
    model: Any,
    pool: list[tuple[dict[str, Any], dict[str, Any]]],
    day: date,
    shifted: bool,
    per_day: int,
    seed: int,
    request_id: str,
) -> tuple[int, int]:
    """One day of demo traffic through the predict path; outcomes drawn from each score, known 30
    to 60 days after the prediction (only those already due are set)."""
    rng = np.random.default_rng([seed, day.toordinal()])
    rows, protected = _history_rows(rng, pool, per_day, shifted)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    times = sorted(start + timedelta(seconds=float(s)) for s in rng.uniform(0, 86_400, per_day))
    records = prediction_create(model=model, items=rows, protected=protected, request_id=request_id, timestamps=times)
    now = timezone.now()
    due = []
    for record in records:
        outcome = bool(rng.random() < record.risk_score)
        observed = record.timestamp + timedelta(days=float(rng.uniform(30, 60)))
        if observed <= now:
            due.append((record.pk, outcome, observed))
    return len(records), record_set_outcomes(outcomes=due)


def demo_history_seed(*, days: int = 90, per_day: int = 200, seed: int = 2026, progress: Any = None) -> HistorySummary:
    """``days`` days of demo traffic ending today, once: a re-run (after an interruption too) seeds
    only the days still missing, against the same last day. Then one fold."""
    from predictions.ml.features import decode_row, encode_frame
    from predictions.ml.training import read_training_csv

    model = loaded_model_get(name=DEMO_MODEL_NAME)
    frame = read_training_csv(Path(settings.BASE_DIR) / "data" / "german_credit.csv")
    features = [decode_row(model.schema, row) for row in encode_frame(frame, model.schema)]
    groups = [decode_row(model.protected, row) for row in encode_frame(frame, model.protected)]
    pool = list(zip(features, groups, strict=True))
    seeded = set(
        Record.objects.filter(request_id__startswith=HISTORY_PREFIX).values_list("request_id", flat=True).distinct()
    )
    anchors = {rid.split(":")[1] for rid in seeded}
    last_day = date.fromisoformat(min(anchors)) if anchors else timezone.now().date()
    summary = HistorySummary(last_day=last_day, days_seeded=0, records=0, outcomes=0)
    first = last_day - timedelta(days=days - 1)
    for i in range(days):
        day = first + timedelta(days=i)
        request_id = f"{HISTORY_PREFIX}:{last_day}:{day}"
        if request_id in seeded:
            continue
        with transaction.atomic():  # a day is stored whole or not at all
            stored, outcomes = _history_day(model, pool, day, i >= days - SHIFT_DAYS, per_day, seed, request_id)
        summary.days_seeded += 1
        summary.records += stored
        summary.outcomes += outcomes
        if progress is not None:
            progress(i + 1, days, summary)
    monitoring_fold()
    return summary

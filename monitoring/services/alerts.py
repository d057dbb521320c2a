"""Monitoring writes: alert rules and their evaluation, alerts, and the webhooks that announce them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.roles import RISK_MANAGER, user_has_role
from core.errors import ApplicationError
from core.principal import Principal, user_or_none
from core.types import JSONObject
from monitoring import stats
from monitoring.fairness import FOUR_FIFTHS
from monitoring.models import (
    Alert,
    AlertRule,
    Delivery,
    DeliveryAttempt,
    Webhook,
    WebhookChange,
)
from monitoring.selectors.alerts import LOWER_IS_WORSE, ReportCache, alert_metric
from monitoring.webhooks import webhook_post, webhook_target_parse, webhook_target_resolve
from predictions.models import ModelVersion, Release

# Fairness rules' defaults (docs/decisions.md): the four-fifths rule warns; gaps in points of rate.
FAIRNESS_CRITICAL = 0.7
FAIRNESS_MIN_RECORDS = 200
GAP_WARNING, GAP_CRITICAL = 0.1, 0.2


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


def _judge(rule: AlertRule, version: ModelVersion, today: date, reports: ReportCache) -> tuple[str, float, date, date]:
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


def _payload(alert: Alert, event: str) -> JSONObject:
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
    reports: ReportCache,
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
    reports = ReportCache()  # the rules of a model share their windows' reports
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


def alert_acknowledge(*, alert: Alert, user: Principal) -> Alert:
    """An open alert, acknowledged by ``user`` (it stays unresolved)."""
    updated = Alert.objects.filter(pk=alert.pk, status=Alert.Status.OPEN).update(
        status=Alert.Status.ACKNOWLEDGED, acknowledged_at=timezone.now(), acknowledged_by=user_or_none(user)
    )
    if not updated:
        raise AlertActionError(f"alert {alert.pk} is {alert.status}, not open")
    alert.refresh_from_db()
    return alert


def alert_resolve(*, alert: Alert, user: Principal) -> Alert:
    updated = (
        Alert.objects.filter(pk=alert.pk)
        .exclude(status=Alert.Status.RESOLVED)
        .update(status=Alert.Status.RESOLVED, resolved_at=timezone.now(), resolved_by=user_or_none(user))
    )
    if not updated:
        raise AlertActionError(f"alert {alert.pk} is already resolved")
    alert.refresh_from_db()
    return alert


# --- Webhooks -------------------------------------------------------------------------------


def _require_risk_manager(user: Principal) -> None:
    if not user_has_role(user=user, role=RISK_MANAGER):
        raise ApplicationError("Only risk managers manage webhooks.", code="permission_denied", status=403)


def _audit(webhook: Webhook, action: str, user: Principal) -> None:
    WebhookChange.objects.create(
        webhook=webhook if action != WebhookChange.Action.DELETED else None,
        webhook_url=webhook.display_url,
        action=action,
        user=user_or_none(user),
        username=getattr(user, "username", "") or "system",
    )


def webhook_create(*, url: str, user: Principal) -> Webhook:
    """A webhook for every alert, with a new random signing secret (the caller shows it once). The
    target must be https and resolve to public addresses only (checked again at each delivery)."""
    _require_risk_manager(user)
    allow_local = settings.WEBHOOK_ALLOW_LOCAL
    target = webhook_target_parse(url, allow_local=allow_local)
    webhook_target_resolve(target, allow_local=allow_local, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    with transaction.atomic():
        webhook = Webhook.objects.create(url=url, secret=secrets.token_urlsafe(32), created_by=user_or_none(user))
        _audit(webhook, WebhookChange.Action.CREATED, user)
    return webhook


def webhook_toggle(*, webhook_id: int, user: Principal) -> Webhook:
    """Enable a disabled webhook, or disable an enabled one (a 404 if there is none); disabling
    cancels what it had queued."""
    _require_risk_manager(user)
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
        if webhook is None:
            raise ApplicationError("No such webhook.", code="not_found", status=404)
        webhook.enabled = not webhook.enabled
        webhook.save(update_fields=["enabled"])
        if not webhook.enabled:
            Delivery.objects.filter(webhook=webhook, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.CANCELLED
            )
        _audit(webhook, WebhookChange.Action.ENABLED if webhook.enabled else WebhookChange.Action.DISABLED, user)
    return webhook


def webhook_delete(*, webhook_id: int, user: Principal) -> None:
    """Delete a webhook with its deliveries; the audit trail keeps that it existed and who deleted it."""
    _require_risk_manager(user)
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
        if webhook is None:
            raise ApplicationError("No such webhook.", code="not_found", status=404)
        _audit(webhook, WebhookChange.Action.DELETED, user)
        webhook.delete()


def _attempt(delivery: Delivery, now: datetime) -> bool:
    result = webhook_post(
        url=delivery.webhook.url,
        secret=delivery.webhook.secret,
        payload=delivery.payload,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        allow_local=settings.WEBHOOK_ALLOW_LOCAL,
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


def _send_next_due(now: datetime) -> bool | None:
    """POST the oldest due delivery, its row locked meanwhile (two senders never send one twice):
    True delivered, False failed, None when nothing is due."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True)
            .select_related("webhook")
            # enabled: a delivery queued while its webhook was being disabled is not cancelled by it
            .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now, webhook__enabled=True)
            .order_by("next_attempt_at", "id")
            .first()
        )
        return None if delivery is None else _attempt(delivery, now)


def webhook_deliveries_send(*, now: datetime | None = None, limit: int = 50) -> tuple[int, int]:
    """POST up to ``limit`` due deliveries, WEBHOOK_CONCURRENCY at a time, each within its deadline
    (so a tick takes at most about limit / concurrency deadlines); returns (delivered, failed)."""
    now = now or timezone.now()
    budget = iter(range(limit))

    def drain() -> tuple[int, int]:
        delivered = failed = 0
        while next(budget, None) is not None and (outcome := _send_next_due(now)) is not None:
            delivered, failed = delivered + outcome, failed + (not outcome)
        return delivered, failed

    workers = settings.WEBHOOK_CONCURRENCY
    if workers == 1:
        return drain()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
        results = list(pool.map(lambda _: _in_own_connection(drain), range(workers)))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def _in_own_connection(work: Callable[[], tuple[int, int]]) -> tuple[int, int]:
    """A pool thread's work, its database connection closed after (threads have their own)."""
    try:
        return work()
    finally:
        connections.close_all()

"""Release writes: validate a candidate, put it in shadow or canary, ramp, promote, roll back,
abort, and the guard that rolls a failing canary back (run by the scheduler every minute)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict, Unpack

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import ApplicationError
from core.principal import Principal, user_or_none
from core.types import JSON, FeatureRow, JSONObject
from monitoring.models import Alert, AlertRule
from monitoring.services.alerts import alert_raise
from predictions.models import ChallengerFailure, ModelVersion, Release
from predictions.selectors import LoadedModel, loaded_model_cache_clear, loaded_model_get
from predictions.services import RegistryError, model_version_promote, model_version_rollback
from records.models import Record
from releases import statistics
from releases.gates import (
    GateResult,
    auc_gate,
    calibration_gates,
    fairness_gates,
    holdout_rows,
    latency_gate,
    outcomes_of,
    stability_gates,
    stability_since,
)
from releases.models import ReleaseEvent, Validation
from releases.selectors import readable_rows, rows_replay, stored_rows_get
from releases.thresholds import Thresholds, thresholds_get

LABELLED_LIMIT = 50_000  # the newest labelled records a validation replays
STABILITY_LIMIT = 50_000


class EventFields(TypedDict, total=False):
    """What a timeline event records besides its name, action and author."""

    model_version: ModelVersion
    validation: Validation | None
    reason: str
    evidence: CanaryHealth | JSONObject
    forced: bool
    percent: float


class ReleaseError(ApplicationError):
    """A release step that cannot be taken now; the message says why."""

    code = "release_conflict"
    status = 409


def _loaded(version: ModelVersion) -> LoadedModel:
    return loaded_model_get(model_id=version.model_id)


def _champion(name: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(name=name, status=ModelVersion.Status.PRODUCTION).first()


def release_config(*, name: str) -> Thresholds:
    release = Release.objects.filter(name=name).first()
    return thresholds_get(release.gates if release is not None else None)


def _holdout_gate(
    mine: LoadedModel, theirs: LoadedModel | None, candidate: ModelVersion, config: Thresholds
) -> GateResult:
    rows, outcomes = holdout_rows(candidate)
    if not rows:
        return {
            "gate": "auc_non_inferiority", "set": "holdout", "value": None, "threshold": config.auc_margin,
            "passed": None, "detail": "no holdout stored with this version",
        }  # fmt: skip
    champion = rows_replay(model=theirs, rows=rows) if theirs is not None else None
    return auc_gate(
        on="holdout", outcomes=outcomes, candidate=rows_replay(model=mine, rows=rows), champion=champion, config=config
    )


def _history_gates(
    mine: LoadedModel, theirs: LoadedModel | None, config: Thresholds, now: datetime, served_by: str | None
) -> list[GateResult]:
    """Out-of-time AUC and calibration on the labelled records, stability on the recent ones
    (``served_by="canary"``: the canary's own traffic only)."""
    labelled = stored_rows_get(name=mine.name, labelled=True, served_by=served_by, limit=LABELLED_LIMIT)
    replay = rows_replay(model=mine, rows=labelled.features)
    champion = rows_replay(model=theirs, rows=labelled.features) if theirs is not None else None
    outcomes = outcomes_of(labelled)
    results = [auc_gate(on="labelled", outcomes=outcomes, candidate=replay, champion=champion, config=config)]
    results.extend(calibration_gates(outcomes=outcomes, candidate=replay, config=config))
    since = stability_since(now, config)
    recent = stored_rows_get(
        name=mine.name, since=since, served_by=served_by, limit=STABILITY_LIMIT, with_protected=True
    )
    candidate = rows_replay(model=mine, rows=recent.features)
    champion = rows_replay(model=theirs, rows=recent.features) if theirs is not None else None
    on = f"last {config.stability_days} days" + (" of canary traffic" if served_by else "")
    results.extend(stability_gates(candidate=candidate, champion=champion, config=config, on=on))
    results.extend(
        fairness_gates(candidate=candidate, champion=champion, protected=recent.protected, config=config, on=on)
    )
    return results


def model_validate(
    *,
    model_version: ModelVersion,
    user: Principal | None = None,
    scope: str = Validation.Scope.CANDIDATE,
    now: datetime | None = None,
) -> Validation:
    """Run every gate for ``model_version`` against its name's champion and store the result.
    A gate without enough data is reported and left out of the verdict."""
    now = now or timezone.now()
    config = release_config(name=model_version.name)
    champion = _champion(model_version.name)
    mine = _loaded(model_version)
    theirs = _loaded(champion) if champion is not None and champion.pk != model_version.pk else None
    canary = scope == Validation.Scope.CANARY
    results = [] if canary else [_holdout_gate(mine, theirs, model_version, config)]
    results.extend(_history_gates(mine, theirs, config, now, "canary" if canary else None))
    sample = readable_rows(model=mine, rows=(holdout_rows(model_version)[0] or _recent_features(mine.name))[:300])
    results.append(latency_gate(model=mine, rows=sample, config=config))
    verdicts = [gate["passed"] for gate in results if gate["passed"] is not None]
    validation = Validation.objects.create(
        model_version=model_version,
        champion=champion,
        scope=scope,
        passed=all(verdicts),
        gates=results,
        config=config.as_json(),
        created_by=user_or_none(user),
    )
    if not canary:
        _event(
            model_version.name,
            ReleaseEvent.Action.VALIDATE,
            user,
            model_version=model_version,
            validation=validation,
            reason="passed" if validation.passed else "failed",
        )
    return validation


def _recent_features(name: str) -> list[FeatureRow]:
    return stored_rows_get(name=name, limit=300).features


def latest_validation(*, model_version: ModelVersion) -> Validation | None:
    return model_version.validations.filter(scope=Validation.Scope.CANDIDATE).order_by("-created_at", "-id").first()


def _event(name: str, action: str, user: Principal | None, **fields: Unpack[EventFields]) -> ReleaseEvent:
    release = Release.objects.filter(name=name).first()
    champion = _champion(name)
    return ReleaseEvent.objects.create(
        name=name,
        action=action,
        champion=champion,
        mode=release.mode if release is not None else Release.Mode.NONE,
        percent=release.percent if release is not None else 0.0,
        created_by=user_or_none(user),
        **fields,
    )


def _locked_release(name: str) -> Release:
    Release.objects.get_or_create(name=name)
    return Release.objects.select_for_update().get(name=name)


def _clear(release: Release) -> None:
    """No challenger: every request goes to the champion."""
    release.challenger, release.mode, release.percent, release.step_started_at = None, Release.Mode.NONE, 0.0, None
    release.save()


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReleaseError("Give a reason: every release step is recorded with one.", fields={"reason": "Required."})
    return reason[:2000]


def _challenger_check(version: ModelVersion) -> None:
    if version.status == ModelVersion.Status.PRODUCTION:
        raise ReleaseError(f"{version.model_id} is the champion already.")
    if version.status == ModelVersion.Status.ARCHIVED:
        raise ReleaseError(f"{version.model_id} is archived; register or pick a staging version.")
    if _champion(version.name) is None:
        raise ReleaseError(f"{version.name} has no champion: promote a first version instead.")


def _gates_check(version: ModelVersion, force: bool, user: Principal | None) -> Validation | None:
    """The version's latest validation, which must have passed unless forced (by a superuser)."""
    validation = latest_validation(model_version=version)
    if validation is not None and validation.passed:
        return validation
    if not force:
        state = "failed its gates" if validation is not None else "has not been validated"
        raise ReleaseError(f"{version.model_id} {state}; validate it, or force the step with a reason.")
    if user is not None and not getattr(user, "is_superuser", False):
        raise ReleaseError("Only a superuser can force a release step.", status=403)
    return validation


def release_shadow_start(*, model_version: ModelVersion, reason: str, user: Principal | None = None) -> Release:
    """The version scores every request for its name after the champion; nothing it says is served."""
    reason = _require_reason(reason)
    _challenger_check(model_version)
    with transaction.atomic():
        release = _locked_release(model_version.name)
        release.challenger, release.mode, release.percent = model_version, Release.Mode.SHADOW, 0.0
        release.step_started_at = timezone.now()
        release.save()
        _event(
            model_version.name,
            ReleaseEvent.Action.SHADOW,
            user,
            model_version=model_version,
            reason=reason,
            validation=latest_validation(model_version=model_version),
        )
    return release


def release_canary_set(
    *,
    model_version: ModelVersion,
    reason: str,
    percent: float | None = None,
    force: bool = False,
    user: Principal | None = None,
) -> Release:
    """Serve ``percent`` of the name's applicants (default: the ramp's first step) with the version."""
    reason = _require_reason(reason)
    _challenger_check(model_version)
    validation = _gates_check(model_version, force, user)
    with transaction.atomic():
        release = _locked_release(model_version.name)
        share = float(release.ramp[0] if percent is None else percent)
        if not 0 < share <= 100:
            raise ReleaseError(
                "The canary's percentage must be above 0 and at most 100.", fields={"percent": "Out of range."}
            )
        release.challenger, release.mode, release.percent = model_version, Release.Mode.CANARY, share
        release.step_started_at = timezone.now()
        release.save()
        _event(
            model_version.name,
            ReleaseEvent.Action.CANARY,
            user,
            model_version=model_version,
            reason=reason,
            validation=validation,
            forced=force and not (validation and validation.passed),
        )
    return release


def _policy_set(version: ModelVersion, policy: Mapping[str, JSON]) -> bool:
    """Give a version that has decided nothing yet a new decision policy; True if it changed."""
    from predictions.ml.decisions import PolicyError, policy_check, policy_get

    try:
        wanted = policy_check(policy).to_dict()
    except PolicyError as exc:
        raise ReleaseError(exc.message, status=400, fields={"decision_policy": exc.message}) from None
    if wanted == policy_get(version.decision_policy, version.label_bands).to_dict():
        return False
    if Record.objects.filter(model_version=version).exists():
        message = f"{version.model_id} has served records: its decision policy is fixed; train a new version."
        raise ReleaseError(message, fields={"decision_policy": message})
    ModelVersion.objects.filter(pk=version.pk).update(decision_policy=wanted)
    version.decision_policy = wanted
    return True


def release_promote(
    *,
    model_version: ModelVersion,
    reason: str,
    force: bool = False,
    user: Principal | None = None,
    decision_policy: Mapping[str, JSON] | None = None,
) -> ModelVersion:
    """Make the version the champion. Refused for a version whose gates failed (or that was never
    validated) unless forced with a reason by a superuser; the challenger slot is cleared. A new
    ``decision_policy`` (only for a version with no records yet) is validated again first: the
    fairness gate judges decisions. One transaction: a refusal changes nothing."""
    reason = _require_reason(reason)
    if model_version.status == ModelVersion.Status.PRODUCTION:
        raise ReleaseError(f"{model_version.model_id} is the champion already.")
    with transaction.atomic():
        changed = decision_policy is not None and _policy_set(model_version, decision_policy)
        has_champion = _champion(model_version.name) is not None
        if changed and has_champion:
            model_validate(model_version=model_version, user=user)
        validation = _gates_check(model_version, force, user) if has_champion else None
        release = _locked_release(model_version.name)
        promoted = model_version_promote(model_version=model_version, user=user)
        _clear(release)
        _event(
            model_version.name,
            ReleaseEvent.Action.PROMOTE,
            user,
            model_version=promoted,
            reason=reason + (f" (decision policy {model_version.decision_policy})" if changed else ""),
            validation=validation,
            forced=force and not (validation and validation.passed),
        )
    return promoted


def release_rollback(*, name: str, reason: str, user: Principal | None = None) -> ModelVersion:
    """Return the champion to the version before it; any challenger is stopped too."""
    reason = _require_reason(reason)
    with transaction.atomic():
        release = _locked_release(name)
        try:
            previous = model_version_rollback(name=name, user=user)
        except RegistryError as exc:
            raise ReleaseError(str(exc)) from None
        _clear(release)
        _event(name, ReleaseEvent.Action.ROLLBACK, user, model_version=previous, reason=reason)
    return previous


def release_abort(
    *,
    name: str,
    reason: str,
    user: Principal | None = None,
    evidence: CanaryHealth | None = None,
    automatic: bool = False,
) -> Release:
    """Stop the challenger (shadow or canary): every request goes to the champion again."""
    reason = _require_reason(reason)
    with transaction.atomic():
        release = _locked_release(name)
        if release.challenger is None:
            raise ReleaseError(f"{name} has no challenger to stop.")
        challenger = release.challenger
        action = ReleaseEvent.Action.AUTO_ROLLBACK if automatic else ReleaseEvent.Action.ABORT
        _event(name, action, user, model_version=challenger, reason=reason, evidence=evidence or {})
        _clear(release)
    return release


DRIFT_METRICS = (AlertRule.Metric.FEATURE_PSI, AlertRule.Metric.SCORE_PSI, AlertRule.Metric.LABEL_PSI)
MIN_GUARD_RECORDS = 100  # per side, before the canary's score PSI is judged


def _canary_start(release: Release) -> datetime:
    """When the challenger's current canary began (its first canary step, after any ramp)."""
    started = (
        ReleaseEvent.objects.filter(
            name=release.name, model_version=release.challenger, action=ReleaseEvent.Action.CANARY
        )
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return started or release.step_started_at or timezone.now()


def _scores(version_id: int, served_by: str, since: datetime) -> list[float]:
    rows = Record.objects.filter(model_version_id=version_id, served_by=served_by, timestamp__gte=since)
    return list(rows.order_by("-timestamp").values_list("risk_score", flat=True)[:STABILITY_LIMIT])


class CanaryHealth(TypedDict):
    since: str
    canary_records: int
    champion_records: int
    failures: int  # rows the canary failed to score (they went to the champion)
    error_rate: float
    score_psi: float | None  # None with too few records on either side
    critical_drift_alerts: list[str]
    auc_gate: GateResult


def canary_health(*, release: Release, now: datetime | None = None) -> CanaryHealth:
    """The evidence the guard judges: error rate, score PSI against the champion's traffic of the
    same period, open critical drift alerts on the challenger, and the realised-AUC gate."""
    assert release.challenger is not None
    config = thresholds_get(release.gates)
    since = _canary_start(release)
    champion = _champion(release.name)
    canary_scores = _scores(release.challenger.pk, "canary", since)
    champion_scores = _scores(champion.pk, "champion", since) if champion is not None else []
    failed = ChallengerFailure.objects.filter(model_version=release.challenger, mode="canary", created_at__gte=since)
    failures = int(failed.aggregate(n=Sum("rows"))["n"] or 0)
    served = len(canary_scores) + failures
    enough = min(len(canary_scores), len(champion_scores)) >= MIN_GUARD_RECORDS
    alerts = Alert.objects.filter(
        model_version=release.challenger, severity=Alert.Severity.CRITICAL, rule__metric__in=DRIFT_METRICS
    ).exclude(status=Alert.Status.RESOLVED)
    mine = _loaded(release.challenger)
    labelled = stored_rows_get(name=release.name, labelled=True, served_by="canary", since=since, limit=LABELLED_LIMIT)
    auc = auc_gate(
        on="canary, labelled",
        outcomes=outcomes_of(labelled),
        candidate=rows_replay(model=mine, rows=labelled.features, validated=True),
        champion=rows_replay(model=_loaded(champion), rows=labelled.features) if champion is not None else None,
        config=config,
    )
    return {
        "since": since.isoformat(),
        "canary_records": len(canary_scores),
        "champion_records": len(champion_scores),
        "failures": failures,
        "error_rate": failures / served if served else 0.0,
        "score_psi": statistics.score_psi(canary_scores, champion_scores) if enough else None,
        "critical_drift_alerts": [alert.message for alert in alerts],
        "auc_gate": auc,
    }


def _rollback_reasons(health: CanaryHealth, config: Thresholds) -> list[str]:
    reasons = []
    if health["error_rate"] > config.canary_error_rate_max:
        reasons.append(f"error rate {health['error_rate']:.3f} > {config.canary_error_rate_max:g}")
    if health["score_psi"] is not None and health["score_psi"] >= config.canary_psi_max:
        reasons.append(f"score PSI against the champion {health['score_psi']:.3f} >= {config.canary_psi_max:g}")
    reasons.extend(f"critical drift alert: {message}" for message in health["critical_drift_alerts"])
    if health["auc_gate"]["passed"] is False:
        reasons.append(f"realised AUC gate failed: {health['auc_gate']['detail']}")
    return reasons


@dataclass
class GuardSummary:
    checked: int = 0
    rolled_back: list[str] = field(default_factory=list)
    advanced: list[str] = field(default_factory=list)


def _ramp(release: Release, health: CanaryHealth, config: Thresholds, now: datetime) -> bool:
    """Advance the canary one ramp step when this step has run long enough, on enough records, and
    the gates pass again on the canary's own traffic."""
    assert release.challenger is not None and release.step_started_at is not None
    later = [float(step) for step in release.ramp if float(step) > release.percent]
    held = now - release.step_started_at >= timedelta(minutes=config.ramp_min_minutes)
    step_records = Record.objects.filter(
        model_version=release.challenger, served_by="canary", timestamp__gte=release.step_started_at
    ).count()
    if not later or not held or step_records < config.ramp_min_records:
        return False
    recent = release.challenger.validations.filter(
        scope=Validation.Scope.CANARY, created_at__gte=release.step_started_at
    )
    last = recent.order_by("-created_at").first()
    if last is not None and now - last.created_at < timedelta(minutes=config.ramp_min_minutes):
        return False  # judged lately and held back: wait for more of the canary's traffic
    validation = model_validate(model_version=release.challenger, scope=Validation.Scope.CANARY, now=now)
    if not validation.passed:
        return False
    with transaction.atomic():
        locked = _locked_release(release.name)
        locked.percent, locked.step_started_at = later[0], now
        locked.save()
        _event(
            release.name,
            ReleaseEvent.Action.RAMP,
            None,
            model_version=release.challenger,
            validation=validation,
            reason=f"{release.percent:g}% → {later[0]:g}% after {step_records} canary records",
            evidence=health,
        )
    return True


def releases_evaluate(*, now: datetime | None = None) -> GuardSummary:
    """The scheduler's release step: every canary is checked; a failing one is rolled back at once
    (with an alert and its webhooks), a healthy one may advance its ramp."""
    now = now or timezone.now()
    summary = GuardSummary()
    for release in Release.objects.filter(mode=Release.Mode.CANARY).select_related("challenger"):
        summary.checked += 1
        assert release.challenger is not None
        config = thresholds_get(release.gates)
        health = canary_health(release=release, now=now)
        reasons = _rollback_reasons(health, config)
        if reasons:
            challenger = release.challenger
            release_abort(name=release.name, reason="; ".join(reasons), evidence=health, automatic=True)
            alert_raise(
                model_version=challenger,
                metric=AlertRule.Metric.RELEASE,
                value=float(health["score_psi"] or 0.0),
                threshold=config.canary_psi_max,
                now=now,
                message=f"{challenger.model_id}: canary rolled back to the champion: {'; '.join(reasons)}",
            )
            summary.rolled_back.append(challenger.model_id)
        elif _ramp(release, health, config, now):
            summary.advanced.append(release.challenger.model_id)
    if summary.rolled_back or summary.advanced:
        loaded_model_cache_clear()  # this process serves the new split at once; others within the refresh
    return summary

"""Release reads: replaying stored records with any version, the checks of stored decisions, the
release state, timeline and the shadow and canary reports."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

import numpy as np
from django.db.models import Case, F, Q, Value, When

from core.types import FeatureRow, JSONObject
from predictions.inference import inference_read_as
from predictions.ml.decisions import LabelBand, Reason
from predictions.ml.features import encode
from predictions.ml.scoring import Driver
from predictions.models import ModelVersion, Release
from predictions.selectors import LoadedModel, ModelNotFound, loaded_model_get
from records.models import Record, ShadowResult
from releases.models import ReleaseEvent, Validation
from releases.statistics import roc_auc
from releases.thresholds import thresholds_get

VERIFY_TOLERANCE = 1e-9


@dataclass
class StoredRows:
    """Stored records as arrays, oldest first."""

    ids: list[uuid.UUID] = field(default_factory=list)
    version_ids: list[int] = field(default_factory=list)
    timestamps: list[datetime] = field(default_factory=list)
    features: list[FeatureRow] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    contributions: list[list[float] | None] = field(default_factory=list)
    drivers: list[list[Driver]] = field(default_factory=list)
    outcomes: list[bool | None] = field(default_factory=list)
    served_by: list[str] = field(default_factory=list)
    protected: list[FeatureRow] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    reasons: list[list[Reason]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


_STORED = ("id", "model_version_id", "timestamp", "features_json", "risk_score", "risk_label", "outcome", "served_by")
# Read only when asked, and JSON only where it is needed: parsing JSON is most of a read. The
# drivers JSON of records older than the contributions array; the reasons of a refer or decline.
_DRIVERS = {
    "stored_contributions": F("contributions"),
    "old_drivers": Case(When(contributions__isnull=True, then=F("drivers")), default=Value(None)),
    "stored_decision": F("decision"),
    "adverse_reasons": Case(When(~Q(decision__in=("", "approve")), then=F("reasons")), default=Value(None)),
}


def stored_rows_get(
    *,
    name: str,
    since: datetime | None = None,
    until: datetime | None = None,
    labelled: bool = False,
    version_id: int | None = None,
    served_by: str | None = None,
    limit: int | None = None,
    with_drivers: bool = False,
    with_protected: bool = False,
) -> StoredRows:
    """The stored records of a model name (optionally one version, a time window, only those with
    an outcome), newest ``limit`` of them, returned oldest first; their stored drivers, decisions
    and reasons, and their protected attributes, if asked."""
    queryset = Record.objects.filter(model_version__name=name)
    if version_id is not None:
        queryset = queryset.filter(model_version_id=version_id)
    if since is not None:
        queryset = queryset.filter(timestamp__gte=since)
    if until is not None:
        queryset = queryset.filter(timestamp__lt=until)
    if labelled:
        queryset = queryset.filter(outcome__isnull=False)
    if served_by is not None:
        queryset = queryset.filter(served_by=served_by)
    extra = {**(_DRIVERS if with_drivers else {}), **({"stored_protected": F("protected")} if with_protected else {})}
    values = queryset.order_by("-timestamp", "-id").annotate(**extra).values_list(*_STORED, *extra)
    rows = list(values[:limit] if limit else values)
    rows.reverse()
    out = StoredRows()
    columns: tuple[list[Any], ...] = (  # each list holds one column's values, as the database gives them
        out.ids, out.version_ids, out.timestamps, out.features, out.scores, out.labels, out.outcomes, out.served_by,
        *((out.contributions, out.drivers, out.decisions, out.reasons) if with_drivers else ()),
        *((out.protected,) if with_protected else ()),
    )  # fmt: skip
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return out


@dataclass(frozen=True)
class Replay:
    """A version's scores and exact drivers for rows: ``readable[i]`` says whether row i could be
    scored (it has the version's features); the arrays hold the readable rows only."""

    readable: np.ndarray
    scores: np.ndarray
    labels: list[str]
    contributions: np.ndarray
    decisions: list[str] = field(default_factory=list)


def readable_rows(*, model: LoadedModel, rows: Sequence[FeatureRow]) -> list[FeatureRow]:
    """``rows`` as ``model`` reads them (its own features, validated); rows it cannot read are left out."""
    read = (inference_read_as(model=model, row=row) for row in rows)
    return [row for row in read if row is not None]


def rows_replay(*, model: LoadedModel, rows: Sequence[FeatureRow], validated: bool = False) -> Replay:
    """Score ``rows`` with ``model`` as serving would (one vectorised score + explain). ``validated``
    rows are that version's own stored features, used as they are; others are read through the
    version's schema (its features only), and rows it cannot read are left out."""
    if validated:
        picked = list(rows)
        readable = np.ones(len(rows), dtype=bool)
    else:
        read = [inference_read_as(model=model, row=row) for row in rows]
        readable = np.array([row is not None for row in read], dtype=bool)
        picked = [row for row in read if row is not None]
    width = len(model.schema)
    if not picked:
        return Replay(readable, np.empty(0), [], np.empty((0, width)))
    explanation = model.scorer.explainer.explain(encode(model.schema, picked))
    scores = explanation.probability
    return Replay(
        readable, scores, model.scorer.labels_for(scores), explanation.contributions, model.scorer.policy.decide(scores)
    )


@dataclass(frozen=True)
class Mismatch:
    record_id: uuid.UUID
    model_id: str
    stored_score: float
    replayed_score: float
    max_contribution_error: float


@dataclass(frozen=True)
class Verification:
    checked: int
    mismatches: list[Mismatch]
    max_score_error: float
    max_contribution_error: float
    seconds: float


def _stored_contributions(model: LoadedModel, stored: StoredRows, i: int) -> np.ndarray:
    array = stored.contributions[i]
    if array is not None:
        return np.asarray(array, dtype=np.float64)
    by_name = {d["feature"]: d["contribution"] for d in stored.drivers[i] or []}  # records older than the array
    return np.array([by_name.get(spec.name, math.nan) for spec in model.schema], dtype=np.float64)


def _same_decision(decision: str, expected: Sequence[Reason], stored: StoredRows, i: int) -> bool:
    """The stored decision and reasons are the replay's (codes in order, contributions to the
    tolerance); a record scored before decisions has none to compare."""
    if not stored.decisions[i]:
        return True
    if decision != stored.decisions[i]:
        return False
    expected = [] if decision == "approve" else expected
    given = stored.reasons[i] or []
    return [r["code"] for r in expected] == [r.get("code") for r in given] and all(
        abs(a["contribution"] - float(b.get("contribution", math.nan))) <= VERIFY_TOLERANCE
        for a, b in zip(expected, given, strict=True)
    )


def records_verify(*, name: str, since: datetime | None = None, limit: int | None = None) -> Verification:
    """Replay stored records of ``name`` with the version that made each one, and compare: the audit
    answer to "can you reproduce this decision?". A mismatch is a score or any driver's contribution
    off by more than VERIFY_TOLERANCE, a different label, decision or reasons."""
    started = time.perf_counter()
    stored = stored_rows_get(name=name, since=since, limit=limit, with_drivers=True)
    groups: dict[int, list[int]] = {}
    for i, version_id in enumerate(stored.version_ids):
        groups.setdefault(version_id, []).append(i)
    mismatches: list[Mismatch] = []
    worst_score = worst_contribution = 0.0
    for version_id, indices in groups.items():
        model = loaded_model_get(model_id=ModelVersion.objects.get(pk=version_id).model_id)
        replay = rows_replay(model=model, rows=[stored.features[i] for i in indices], validated=True)
        reasons = model.scorer.reason_coder.reasons_many(replay.contributions)
        for k, i in enumerate(indices):
            score_error = abs(float(replay.scores[k]) - stored.scores[i])
            errors = np.abs(replay.contributions[k] - _stored_contributions(model, stored, i))
            contribution_error = float(np.nanmax(errors)) if not np.isnan(errors).all() else math.inf
            worst_score = max(worst_score, score_error)
            worst_contribution = max(worst_contribution, contribution_error)
            if (
                score_error > VERIFY_TOLERANCE
                or contribution_error > VERIFY_TOLERANCE
                or replay.labels[k] != stored.labels[i]
                or not _same_decision(replay.decisions[k], reasons[k], stored, i)
            ):
                mismatches.append(
                    Mismatch(
                        stored.ids[i], model.model_id, stored.scores[i], float(replay.scores[k]), contribution_error
                    )
                )
    return Verification(len(stored), mismatches, worst_score, worst_contribution, time.perf_counter() - started)


class ReleaseState(TypedDict):
    name: str
    champion: str | None
    challenger: str | None
    mode: str
    percent: float
    ramp: list[float]
    gates: JSONObject
    validation: Validation | None
    events: list[ReleaseEvent]


def release_state_get(*, name: str) -> ReleaseState:
    """A name's champion, challenger, split, gate thresholds, the challenger's latest validation and
    the newest 50 events of its timeline. ModelNotFound (404) for a name with no versions."""
    versions = ModelVersion.objects.filter(name=name).defer("artifact", "reference_profile", "holdout")
    if not versions.exists():
        raise ModelNotFound(f"model {name[:100]!r} does not exist")
    champion = versions.filter(status=ModelVersion.Status.PRODUCTION).first()
    release = Release.objects.filter(name=name).select_related("challenger").first() or Release(name=name)
    challenger = release.challenger
    # the challenger's latest validation; without a challenger, the name's latest
    validations = Validation.objects.select_related("model_version", "champion")
    if challenger is not None:
        validation = validations.filter(model_version=challenger).first()
    else:
        validation = validations.filter(model_version__name=name).first()
    events = ReleaseEvent.objects.filter(name=name).select_related(
        "model_version", "champion", "created_by", "validation"
    )[:50]
    return {
        "name": name,
        "champion": champion.model_id if champion else None,
        "challenger": challenger.model_id if challenger else None,
        "mode": release.mode,
        "percent": release.percent,
        "ramp": release.ramp,
        "gates": thresholds_get(release.gates).as_json(),
        "validation": validation,
        "events": list(events),
    }


class Flip(TypedDict):
    edge: float
    label: str
    near: int  # records whose champion score is within EDGE_WINDOW of the edge
    up: int  # of those, the challenger put above the edge where the champion was below
    down: int


@dataclass(frozen=True)
class ShadowReport:
    challenger: str
    n: int
    correlation: float
    mean_abs_difference: float
    labels: list[str]
    agreement: list[list[int]]  # rows: the champion's label, columns: the challenger's
    flips: list[Flip]  # per band edge: records near it whose label differs, each way
    labelled: int
    champion_auc: float
    challenger_auc: float


EDGE_WINDOW = 0.05  # "around a band edge": the champion's score within this distance of it


def shadow_report(*, challenger: ModelVersion, champion_bands: Sequence[LabelBand]) -> ShadowReport:
    """The challenger's shadow results against the served records they sit beside."""
    rows = list(
        ShadowResult.objects.filter(model_version=challenger).values_list(
            "record__risk_score", "risk_score", "record__risk_label", "risk_label", "record__outcome"
        )
    )
    labels = [band["label"] for band in champion_bands]
    for band in challenger.label_bands:
        if band["label"] not in labels:
            labels.append(band["label"])
    agreement = [[0] * len(labels) for _ in labels]
    for _, _, served, shadow, _ in rows:
        agreement[labels.index(served)][labels.index(shadow)] += 1
    served_scores = np.array([r[0] for r in rows], dtype=np.float64)
    shadow_scores = np.array([r[1] for r in rows], dtype=np.float64)
    flips: list[Flip] = []
    for band in champion_bands[1:]:
        near = [r for r in rows if abs(r[0] - band["min"]) <= EDGE_WINDOW]
        up = sum(1 for r in near if r[0] < band["min"] <= r[1])
        down = sum(1 for r in near if r[1] < band["min"] <= r[0])
        flips.append({"edge": band["min"], "label": band["label"], "near": len(near), "up": up, "down": down})
    labelled = [r for r in rows if r[4] is not None]
    outcomes = np.array([r[4] for r in labelled], dtype=bool)
    corr = float(np.corrcoef(served_scores, shadow_scores)[0, 1]) if len(rows) > 2 else math.nan
    return ShadowReport(
        challenger=challenger.model_id,
        n=len(rows),
        correlation=corr,
        mean_abs_difference=float(np.abs(served_scores - shadow_scores).mean()) if rows else math.nan,
        labels=labels,
        agreement=agreement,
        flips=flips,
        labelled=len(labelled),
        champion_auc=roc_auc(outcomes, np.array([r[0] for r in labelled])) if labelled else math.nan,
        challenger_auc=roc_auc(outcomes, np.array([r[1] for r in labelled])) if labelled else math.nan,
    )

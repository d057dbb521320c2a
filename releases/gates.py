"""The release gates: a candidate version judged against its name's champion, on the same rows.

Each gate's result is a ``GateResult`` (stored as JSON on the validation); ``passed`` is None for a
gate that had too little to judge (it neither passes nor fails the validation). The thresholds are
``Thresholds``, whose defaults a name's ``Release.gates`` overrides."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypedDict

import numpy as np

from core.types import FeatureRow
from monitoring import fairness
from predictions.models import ModelVersion
from predictions.selectors import LoadedModel
from releases import statistics
from releases.selectors import Replay, StoredRows
from releases.thresholds import Thresholds


class GateResult(TypedDict):
    gate: str
    set: str  # the rows it was judged on
    value: float | None  # None when not judged
    threshold: float
    passed: bool | None
    detail: str


def gate_result(gate: str, on: str, value: float, threshold: float, passed: bool | None, detail: str) -> GateResult:
    clean = None if value is None or not math.isfinite(value) else round(float(value), 6)
    return {"gate": gate, "set": on, "value": clean, "threshold": threshold, "passed": passed, "detail": detail}


def _paired(candidate: Replay, champion: Replay) -> np.ndarray:
    """The rows both versions could read (a mask over the replayed rows)."""
    both: np.ndarray = candidate.readable & champion.readable
    return both


def _scores_on(replay: Replay, mask: np.ndarray) -> np.ndarray:
    positions = np.cumsum(replay.readable) - 1
    picked: np.ndarray = replay.scores[positions[mask]]
    return picked


def auc_gate(
    *,
    on: str,
    outcomes: Sequence[int | bool],
    candidate: Replay,
    champion: Replay | None,
    config: Thresholds,
    seed: int = 0,
) -> GateResult:
    """Non-inferiority of ROC AUC: the lower bound of the paired bootstrap interval of the
    difference must be at least ``auc_margin``."""
    margin = float(config.auc_margin)
    if champion is None:
        return gate_result("auc_non_inferiority", on, math.nan, margin, None, "no champion to compare with")
    mask = _paired(candidate, champion)
    y = np.asarray(outcomes, dtype=bool)[mask]
    if len(y) < config.min_labelled or y.all() or not y.any():
        return gate_result("auc_non_inferiority", on, math.nan, margin, None, f"{len(y)} rows with both classes needed")
    mine, theirs = _scores_on(candidate, mask), _scores_on(champion, mask)
    interval = statistics.paired_bootstrap_auc_difference(y, mine, theirs, rounds=config.bootstrap_rounds, seed=seed)
    detail = (
        f"AUC {statistics.roc_auc(y, mine):.4f} vs {statistics.roc_auc(y, theirs):.4f}; "
        f"difference {interval.difference:+.4f}, 95% [{interval.low:+.4f}, {interval.high:+.4f}], {len(y)} rows"
    )
    return gate_result("auc_non_inferiority", on, interval.low, margin, interval.low >= margin, detail)


def calibration_gates(*, outcomes: Sequence[int | bool], candidate: Replay, config: Thresholds) -> list[GateResult]:
    y = np.asarray(outcomes, dtype=np.float64)[candidate.readable]
    ece_max, citl_max = float(config.ece_max), float(config.citl_max)
    if len(y) < config.min_labelled:
        note = f"{len(y)} labelled records; {config.min_labelled} needed"
        return [
            gate_result("ece", "labelled", math.nan, ece_max, None, note),
            gate_result("calibration_in_the_large", "labelled", math.nan, citl_max, None, note),
        ]
    ece = statistics.expected_calibration_error(y, candidate.scores)
    citl = statistics.calibration_in_the_large(y, candidate.scores)
    return [
        gate_result("ece", "labelled", ece, ece_max, ece <= ece_max, f"10 equal-width bins, {len(y)} records"),
        gate_result(
            "calibration_in_the_large",
            "labelled",
            abs(citl),
            citl_max,
            abs(citl) <= citl_max,
            f"mean score {float(np.mean(candidate.scores)):.4f} vs observed rate {float(np.mean(y)):.4f}",
        ),
    ]


def stability_gates(*, candidate: Replay, champion: Replay | None, config: Thresholds, on: str) -> list[GateResult]:
    psi_max, change_max = float(config.psi_max), float(config.label_change_max)
    if champion is None:
        note = "no champion to compare with"
        return [
            gate_result("score_psi", on, math.nan, psi_max, None, note),
            gate_result("label_change", on, math.nan, change_max, None, note),
        ]
    mask = _paired(candidate, champion)
    n = int(mask.sum())
    if n < config.min_stability_records:
        note = f"{n} records; {config.min_stability_records} needed"
        return [
            gate_result("score_psi", on, math.nan, psi_max, None, note),
            gate_result("label_change", on, math.nan, change_max, None, note),
        ]
    mine, theirs = _scores_on(candidate, mask), _scores_on(champion, mask)
    value = statistics.score_psi(mine, theirs)
    positions_c, positions_p = np.cumsum(candidate.readable) - 1, np.cumsum(champion.readable) - 1
    labels_c = [candidate.labels[i] for i in positions_c[mask]]
    labels_p = [champion.labels[i] for i in positions_p[mask]]
    changed = sum(a != b for a, b in zip(labels_c, labels_p, strict=True)) / n
    return [
        gate_result(
            "score_psi",
            on,
            value,
            psi_max,
            value <= psi_max,
            f"candidate vs champion scores, {n} records, champion deciles",
        ),
        gate_result(
            "label_change", on, changed, change_max, changed <= change_max, f"{round(changed * n)} of {n} labels differ"
        ),
    ]


def _air_by_attribute(
    replay: Replay, mask: np.ndarray, protected: Sequence[FeatureRow]
) -> dict[str, fairness.AttributeFairness]:
    """Each protected attribute's figures over the rows in ``mask``, with the replay's decisions."""
    positions = (np.cumsum(replay.readable) - 1).tolist()
    picked = np.flatnonzero(mask).tolist()
    rows = [protected[i] for i in picked]
    approved = [replay.decisions[positions[i]] == "approve" for i in picked]
    counts = fairness.counts_from_rows(rows, approved, [None] * len(rows))
    return {a.attribute: a for a in fairness.fairness_from_counts(counts)}


def fairness_gates(
    *,
    candidate: Replay,
    champion: Replay | None,
    protected: Sequence[FeatureRow],
    config: Thresholds,
    on: str,
) -> list[GateResult]:
    """Per protected attribute the records carry: the candidate's adverse impact ratio on the
    replayed records must be at least ``air_min``, and not more than ``air_drop_max`` below the
    champion's on the same records."""
    floor, drop = float(config.air_min), float(config.air_drop_max)
    mask = _paired(candidate, champion) if champion is not None else candidate.readable
    mine = _air_by_attribute(candidate, mask, protected)
    theirs = _air_by_attribute(champion, mask, protected) if champion is not None else {}
    if not mine:
        return [gate_result("adverse_impact", on, math.nan, floor, None, "no records with protected attributes")]
    gates_out = []
    for name, figures in mine.items():
        value = figures.adverse_impact_ratio
        where = f"{on}, {name}"
        if value != value:
            gates_out.append(gate_result("adverse_impact", where, math.nan, floor, None, "fewer than two groups of 30"))
            continue
        champion_value = theirs[name].adverse_impact_ratio if name in theirs else math.nan
        known = champion_value == champion_value
        # below the floor, but no worse than a champion that is below it too: the champion's own
        # failing does not block a candidate (an identical retrain used to need --force)
        inherited = known and value < floor and champion_value < floor and value >= champion_value
        passed = (value >= floor or inherited) and not (known and value < champion_value - drop)
        detail = f"{figures.worst} against {figures.reference}, 95% [{figures.air_low:.3f}, {figures.air_high:.3f}]"
        if known:
            detail += f"; champion {champion_value:.3f} (at most {drop:g} lower allowed)"
        if inherited:
            detail += f"; WARNING: below {floor:g}, as the champion is: passed because it is no worse"
        gates_out.append(gate_result("adverse_impact", where, value, floor, passed, detail))
    return gates_out


def latency_gate(*, model: LoadedModel, rows: Sequence[FeatureRow], config: Thresholds, runs: int = 300) -> GateResult:
    """One-row score + exact drivers, as a request does it: p99 of ``runs`` calls."""
    limit = float(config.latency_p99_ms)
    if not rows:
        return gate_result("latency_p99", "one row", math.nan, limit, None, "no rows to time")
    model.scorer.predict([rows[0]])  # warm
    times = []
    for i in range(runs):
        started = time.perf_counter()
        model.scorer.predict([rows[i % len(rows)]])
        times.append((time.perf_counter() - started) * 1000)
    p99 = float(np.percentile(times, 99))
    return gate_result(
        "latency_p99", "one row", p99, limit, p99 <= limit, f"p50 {float(np.median(times)):.3f} ms over {runs} calls"
    )


def holdout_rows(version: ModelVersion) -> tuple[list[FeatureRow], list[int]]:
    holdout = version.holdout or {}
    return list(holdout.get("rows") or []), list(holdout.get("outcomes") or [])


def stability_since(now: datetime, config: Thresholds) -> datetime:
    return now - timedelta(days=int(config.stability_days))


def outcomes_of(stored: StoredRows) -> list[int]:
    return [int(bool(o)) for o in stored.outcomes]

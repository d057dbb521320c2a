"""Fairness figures (monitoring.fairness and the record-store report) against fairlearn's
MetricFrame, an independent implementation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from monitoring import fairness

GROUPS = np.array(["a", "b", "c", "d"])


def _sample(seed: int, n: int = 3000):
    rng = np.random.default_rng(seed)
    group = rng.choice(GROUPS, size=n, p=[0.4, 0.3, 0.2, 0.1])
    approve_rate = pd.Series({"a": 0.7, "b": 0.55, "c": 0.5, "d": 0.62})[group].to_numpy()
    approved = rng.random(n) < approve_rate
    bad = rng.random(n) < np.where(approved, 0.15, 0.45)
    outcome = np.array([bool(b) if known else None for b, known in zip(bad, rng.random(n) < 0.6, strict=True)])
    return group, approved, outcome


def _reference(group, approved, outcome):
    """fairlearn's figures: selection (approval) rate and its ratio; TPR and FPR of 'not approved'
    as the positive prediction, on the rows with an outcome."""
    rates = MetricFrame(metrics=selection_rate, y_true=approved, y_pred=approved, sensitive_features=group)
    ratio = demographic_parity_ratio(approved, approved, sensitive_features=group)
    known = np.array([o is not None for o in outcome])
    y_true = np.array([bool(o) for o in outcome[known]])
    flagged = ~approved[known]
    errors = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y_true,
        y_pred=flagged,
        sensitive_features=group[known],
    )
    return rates, ratio, errors


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_figures_match_fairlearns_metricframe(seed):
    group, approved, outcome = _sample(seed)
    counts = fairness.counts_from_rows([{"g": g} for g in group], approved.tolist(), outcome.tolist())
    [figures] = fairness.fairness_from_counts(counts)
    rates, ratio, errors = _reference(group, approved, outcome)
    by_value = {g.value: g for g in figures.groups}
    for value in GROUPS:
        assert by_value[value].approval_rate == pytest.approx(rates.by_group[value], abs=1e-12)
        assert by_value[value].tpr == pytest.approx(errors.by_group.loc[value, "tpr"], abs=1e-12)
        assert by_value[value].fpr == pytest.approx(errors.by_group.loc[value, "fpr"], abs=1e-12)
    assert figures.adverse_impact_ratio == pytest.approx(ratio, abs=1e-12)
    assert figures.tpr_gap == pytest.approx(errors.difference()["tpr"], abs=1e-12)
    assert figures.fpr_gap == pytest.approx(errors.difference()["fpr"], abs=1e-12)
    assert figures.reference == rates.by_group.idxmax() and figures.worst == rates.by_group.idxmin()
    assert figures.status == ("warning" if ratio < 0.8 else "ok")


def test_the_ratio_interval_covers_the_true_ratio_95_times_in_100():
    rng = np.random.default_rng(11)
    p1, p0, n1, n0, rounds = 0.42, 0.6, 150, 400, 4000
    x1, x0 = rng.binomial(n1, p1, rounds), rng.binomial(n0, p0, rounds)
    covered = [
        low <= p1 / p0 <= high for _, low, high in map(fairness.ratio_interval, x1, [n1] * rounds, x0, [n0] * rounds)
    ]
    assert 0.94 <= np.mean(covered) <= 0.96


def test_a_small_group_is_shown_but_not_judged():
    rows = [{"g": "big"}] * 200 + [{"g": "other"}] * 100 + [{"g": "tiny"}] * 5
    approved = [True] * 160 + [False] * 40 + [True] * 50 + [False] * 50 + [False] * 5
    counts = fairness.counts_from_rows(rows, approved, [None] * len(rows))
    figures = fairness.attribute_fairness("g", counts["g"])
    tiny = next(g for g in figures.groups if g.value == "tiny")
    assert not tiny.judged and tiny.approval_rate == 0.0
    assert figures.worst == "other" and figures.adverse_impact_ratio == pytest.approx(0.5 / 0.8)
    assert next(g for g in figures.groups if g.value == "big").ratio == 1.0


def test_one_judged_group_is_too_few_to_judge():
    counts = fairness.counts_from_rows([{"g": "a"}] * 50 + [{"g": "b"}] * 3, [True] * 53, [None] * 53)
    [figures] = fairness.fairness_from_counts(counts)
    assert figures.status == "too_few" and math.isnan(figures.adverse_impact_ratio)


# --- the report on the record store ------------------------------------------------------------


@pytest.fixture
def decided(demo_model, embedder, german_credit_row, declined_row):
    """600 records of the last days: each applicant's group decides whether it is the declined or
    the approved applicant, so the groups' approval rates are known exactly; outcomes on about 40 %,
    arriving after a first fold (so the fairness rollups are both added to and recomputed)."""
    from monitoring.services.fold import monitoring_fold
    from predictions.selectors import loaded_model_get
    from records.prediction import prediction_create
    from records.services import record_set_outcomes

    rng = np.random.default_rng(5)
    group = rng.choice(["female : divorced/separated/married", "male : single", "male : married/widowed"], 600)
    approve_share = {"female : divorced/separated/married": 0.6, "male : single": 0.78, "male : married/widowed": 0.72}
    approved = np.array([rng.random() < approve_share[g] for g in group])
    items = [german_credit_row if a else declined_row for a in approved]
    protected = [
        {"personal_status_and_sex": g, **({"foreign_worker": bool(i % 3)} if i % 2 else {})}
        for i, g in enumerate(group)
    ]
    now = datetime.now(tz=UTC)
    times = [now - timedelta(hours=int(h)) for h in rng.integers(1, 24 * 5, 600)]
    records = prediction_create(
        model=loaded_model_get(name="credit"), items=items, protected=protected, timestamps=times
    )
    monitoring_fold()
    outcomes = [(r.pk, bool(rng.random() < 0.3), now) for r in records if rng.random() < 0.4]
    record_set_outcomes(outcomes=outcomes)
    monitoring_fold()
    return records


def test_the_report_on_stored_decisions_matches_fairlearn(decided, demo_model):
    from monitoring.selectors.outcomes import fairness_report
    from records.models import Record

    today = datetime.now(tz=UTC).date()
    report = fairness_report(model_version=demo_model, start=today - timedelta(days=30), end=today + timedelta(days=1))
    assert report.decided == 600
    rows = list(Record.objects.values_list("protected", "decision", "outcome"))
    for attribute in report.attributes:
        kept = [(p[attribute.attribute], d, o) for p, d, o in rows if attribute.attribute in p]
        group = np.array([fairness.group_key(v) for v, _, _ in kept])
        approved = np.array([d == "approve" for _, d, _ in kept])
        outcome = np.array([o for _, _, o in kept], dtype=object)
        rates, ratio, errors = _reference(group, approved, outcome)
        by_value = {g.value: g for g in attribute.groups}
        assert set(by_value) == set(rates.by_group.index)
        for value, rate in rates.by_group.items():
            assert by_value[value].approval_rate == pytest.approx(rate, abs=1e-12)
            assert by_value[value].tpr == pytest.approx(errors.by_group.loc[value, "tpr"], abs=1e-12)
            assert by_value[value].fpr == pytest.approx(errors.by_group.loc[value, "fpr"], abs=1e-12)
        assert attribute.adverse_impact_ratio == pytest.approx(ratio, abs=1e-12)
    [sex] = [a for a in report.attributes if a.attribute == "personal_status_and_sex"]
    assert sex.worst == "female : divorced/separated/married" and sex.status == "warning"


def test_the_adverse_impact_rule_warns_below_four_fifths(decided, demo_model):
    from monitoring.models import Alert
    from monitoring.services.alerts import alerts_evaluate

    alerts_evaluate()
    alert = Alert.objects.get(rule__metric="adverse_impact")
    assert alert.severity == "warning" and alert.value < 0.8
    assert "worst adverse impact ratio" in alert.message and "below the warning threshold 0.8" in alert.message


def test_the_fairness_api_and_the_monitoring_panel(decided, demo_model, client, staff_user):
    client.force_login(staff_user)
    body = client.get("/api/monitoring/credit/fairness/").json()
    assert body["model_id"] == "credit@1" and body["decided"] == 600
    [sex] = [a for a in body["attributes"] if a["attribute"] == "personal_status_and_sex"]
    assert sex["status"] == "warning" and len(sex["groups"]) == 3
    assert {"records", "approved", "ratio_low", "tpr", "fpr", "judged"} <= set(sex["groups"][0])
    bad = client.get("/api/monitoring/credit/fairness/?start=2026-12-05&end=2026-12-01")
    assert bad.status_code == 400 and "end" in bad.json()["error"]["fields"]
    page = client.get("/monitoring/credit/").content.decode()
    panel = page[page.index('id="fairness"') :]
    assert "personal_status_and_sex" in panel and 'class="air-value' in panel
    assert "female : divorced/separated/married" in panel

"""Realised performance: every figure against an independent numpy computation from the records,
per window, per segment, with late outcomes and backfilled files."""

from __future__ import annotations

import csv
from datetime import UTC, timedelta

import numpy as np
import pytest
from django.core.management import call_command
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from monitoring.selectors.drift import Segment
from monitoring.selectors.outcomes import performance_report
from monitoring.services.fold import monitoring_fold
from monitoring.tests.conftest import START
from monitoring.tests.conftest import store as _store
from records.models import Record

pytestmark = pytest.mark.django_db(transaction=True)


def _by_hand(records):
    """The window's figures, from the records' own scores and outcomes."""
    done = [r for r in records if r.outcome is not None]
    y = np.array([r.outcome for r in done], dtype=float)
    s = np.array([r.risk_score for r in done])
    cells = np.minimum(np.floor(s * 1000), 999)
    # Mann-Whitney on the cells (ties = one cell) is the cell AUC.
    ranks = rankdata(cells)
    n1, n0 = y.sum(), len(y) - y.sum()
    auc = (ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    clipped = np.clip(s, 1e-15, 1 - 1e-15)
    waiting = [r.risk_score for r in records if r.outcome is None]
    return {
        "records": len(records),
        "outcomes": len(done),
        "auc": auc,
        "exact_auc": roc_auc_score(y, s),
        "brier": np.mean((s - y) ** 2),
        "log_loss": -np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)),
        "citl": s.mean() - y.mean(),
        "waiting_expected_rate": np.mean(waiting) if waiting else float("nan"),
    }


def _window(start_day, end_day, **filters):
    start, end = START + timedelta(days=start_day), START + timedelta(days=end_day)
    return list(Record.objects.filter(timestamp__gte=start, timestamp__lt=end, **filters))


def _assert_matches(figures, expected):
    assert figures.records == expected["records"] and figures.outcomes == expected["outcomes"]
    assert figures.coverage == pytest.approx(expected["outcomes"] / expected["records"])
    assert figures.auc == pytest.approx(expected["auc"], abs=1e-9)
    assert abs(figures.auc - expected["exact_auc"]) <= figures.auc_cell_bound + 1e-12  # inclusive, up to rounding
    assert figures.brier == pytest.approx(expected["brier"], abs=1e-9)
    assert figures.log_loss == pytest.approx(expected["log_loss"], abs=1e-9)
    assert figures.calibration_in_the_large == pytest.approx(expected["citl"], abs=1e-9)
    assert figures.waiting_expected_rate == pytest.approx(expected["waiting_expected_rate"], abs=1e-9, nan_ok=True)
    assert 0 <= figures.auc_low < figures.auc < figures.auc_high <= 1


@pytest.fixture
def history(demo_model, rows):
    """1,000 records over 14 days; outcomes drawn from each score for the first 10 days' records."""
    rng = np.random.default_rng(21)
    days = rng.integers(0, 14, len(rows))
    stored = _store(rows, days=days, rng=rng)
    for record, day in zip(stored, days, strict=True):
        if day < 10:
            Record.objects.filter(pk=record.pk).update(outcome=bool(rng.random() < record.risk_score))
    Record.objects.filter(outcome__isnull=False).update(outcome_changed_at=START)
    monitoring_fold()
    return demo_model


def test_the_figures_equal_a_computation_from_the_records(history):
    day0 = START.astimezone(UTC).date()
    report = performance_report(model_version=history, start=day0, end=day0 + timedelta(days=14), step=7)
    _assert_matches(report.overall, _by_hand(_window(0, 14)))
    assert [(w.start, w.end) for w in report.series] == [
        (day0, day0 + timedelta(days=7)),
        (day0 + timedelta(days=7), day0 + timedelta(days=14)),
    ]
    _assert_matches(report.series[0], _by_hand(_window(0, 7)))
    assert report.series[0].coverage == 1.0 and report.series[0].waiting == 0
    bands = {b.label: b for b in report.overall.bands}
    for label, band in bands.items():
        done = [r for r in _window(0, 14) if r.outcome is not None and r.risk_label == label]
        assert band.outcomes == len(done)
        if done:
            assert band.expected_rate == pytest.approx(np.mean([r.risk_score for r in done]), abs=1e-9)
            assert band.observed_rate == pytest.approx(np.mean([r.outcome for r in done]), abs=1e-9)
    assert len(report.overall.reliability) == 10
    assert 0 <= report.overall.ece < 0.2


def test_a_window_with_fewer_than_100_outcomes_is_too_few(history):
    day0 = START.astimezone(UTC).date()
    report = performance_report(model_version=history, start=day0 + timedelta(days=9), end=day0 + timedelta(days=12))
    figures = report.overall
    assert figures.status == "too_few" and 0 < figures.outcomes < 100
    assert figures.waiting > 0 and 0 < figures.waiting_expected_rate < 1


def test_a_segment_is_computed_from_its_own_records(history):
    day0 = START.astimezone(UTC).date()
    segment = Segment(feature="purpose", value="radio/television")
    report = performance_report(model_version=history, start=day0, end=day0 + timedelta(days=14), segment=segment)
    records = [r for r in _window(0, 14) if r.features_json.get("purpose") == "radio/television"]
    assert 100 < len(records) < 500
    _assert_matches(report.overall, _by_hand(records))


def test_a_late_outcome_moves_the_figures_at_the_next_fold(history):
    day0 = START.astimezone(UTC).date()
    before = performance_report(model_version=history, start=day0 + timedelta(days=10), end=day0 + timedelta(days=14))
    assert before.overall.outcomes == 0 and before.overall.status == "too_few"
    from records.services import record_set_outcome

    rng = np.random.default_rng(6)
    for record in _window(10, 14)[:150]:
        record_set_outcome(record=record, outcome=bool(rng.random() < record.risk_score))
    monitoring_fold()
    after = performance_report(model_version=history, start=day0 + timedelta(days=10), end=day0 + timedelta(days=14))
    assert after.overall.outcomes == 150 and after.overall.status == "judged"
    _assert_matches(after.overall, _by_hand(_window(10, 14)))


def test_a_backfilled_csv_with_outcomes_appears_in_realised_performance(demo_model, embedder, tmp_path, rows):
    path = tmp_path / "history.csv"
    rng = np.random.default_rng(2)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[*rows[0], "decided_at", "defaulted"])
        writer.writeheader()
        for i, row in enumerate(rows[:300]):
            when = START + timedelta(days=i % 3, hours=int(rng.integers(0, 24)))
            writer.writerow({**row, "decided_at": when.isoformat(), "defaulted": "yes" if rng.random() < 0.3 else "no"})
    call_command(
        "backfill_records",
        str(path),
        "--model=credit",
        "--timestamp-column=decided_at",
        "--outcome-column=defaulted",
        "--outcome-positive=yes",
        "--outcome-negative=no",
        "--no-progress",
    )
    monitoring_fold()
    day0 = START.astimezone(UTC).date()
    report = performance_report(model_version=demo_model, start=day0, end=day0 + timedelta(days=3))
    assert report.overall.outcomes == report.overall.records == 300 and report.overall.status == "judged"
    _assert_matches(report.overall, _by_hand(_window(0, 3)))

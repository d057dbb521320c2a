"""Drift and attribution drift over the folded rollups: an injected shift is critical, an unshifted
stream stays stable, and the attribution's parts add up to the shift."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from monitoring.selectors.drift import attribution_report, drift_report
from monitoring.services.fold import monitoring_fold
from monitoring.tests.conftest import START, store

pytestmark = pytest.mark.django_db(transaction=True)


def _stream(rows, rng, *, days, per_day, shift_from=None):
    for day in range(days):
        pick = [dict(rows[i]) for i in rng.integers(0, len(rows), per_day)]
        if shift_from is not None and day >= shift_from:
            for row in pick:
                row["duration_in_month"] = min(72, row["duration_in_month"] * 2)
                row["credit_amount"] = row["credit_amount"] * 3
        store(pick, days=[day] * per_day, rng=rng)
    monitoring_fold()


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_an_unshifted_stream_stays_stable_over_30_days_of_windows(demo_model, rows):
    _stream(rows, np.random.default_rng(2), days=36, per_day=100)
    for offset in range(30):
        start = (START + timedelta(days=offset)).date()
        report = drift_report(model_version=demo_model, start=start, end=start + timedelta(days=7))
        assert report.records == 700
        assert report.status == "stable", [(c.name, round(c.psi, 3)) for c in report.features if c.status != "stable"]


def test_an_injected_shift_is_critical_and_explained(demo_model, rows):
    _stream(rows, np.random.default_rng(4), days=14, per_day=80, shift_from=7)
    before = drift_report(model_version=demo_model, start=START.date(), end=(START + timedelta(days=7)).date())
    after_start = (START + timedelta(days=7)).date()
    after = drift_report(model_version=demo_model, start=after_start, end=after_start + timedelta(days=7))
    assert before.status == "stable" and after.status == "critical"
    critical = {c.name for c in after.features if c.status == "critical"}
    assert {"duration_in_month", "credit_amount"} <= critical
    assert after.score is not None and after.score.psi > before.score.psi  # type: ignore[union-attr]
    against = drift_report(
        model_version=demo_model,
        start=after_start,
        end=after_start + timedelta(days=7),
        against=(before.start, before.end),
    )
    assert against.baseline.startswith(str(before.start)) and against.status == "critical"
    attribution = attribution_report(model_version=demo_model, start=after_start, end=after_start + timedelta(days=7))
    assert attribution.shift == pytest.approx(sum(p.delta for p in attribution.parts), abs=1e-12)
    assert attribution.window_mean_log_odds - attribution.reference_mean_log_odds == pytest.approx(
        attribution.shift, abs=1e-9
    )
    assert {p.name for p in attribution.parts[:2]} == {"duration_in_month", "credit_amount"}


def test_a_small_window_is_too_few_to_judge(demo_model, rows):
    _stream(rows, np.random.default_rng(6), days=1, per_day=50)
    report = drift_report(model_version=demo_model, start=START.date(), end=(START + timedelta(days=1)).date())
    assert report.records == 50 and report.status == "too_few"

"""seed_demo --history: days of traffic through the predict path, a shift in the last 30 days,
outcomes drawn from the scores and known 30 to 60 days later; once, resumable."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring.selectors.drift import drift_report
from records.models import Record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_the_history_has_a_late_shift_and_late_outcomes_and_is_seeded_once(demo_model, embedder, capsys):
    call_command("seed_demo", "--history", "--days=61", "--per-day=12")
    out = capsys.readouterr().out
    assert "61 days seeded now, 732 records" in out
    today = timezone.now().date()
    records = list(Record.objects.all())
    assert len(records) == 732 and all(r.embedding is not None for r in records[:5])
    days = {r.timestamp.date() for r in records}
    assert min(days) == today - timedelta(days=60) and max(days) == today
    assert max(r.timestamp for r in records) <= timezone.now()  # today's traffic stops at now
    with_outcome = [r for r in records if r.outcome is not None]
    assert with_outcome
    for r in with_outcome:
        assert r.outcome_observed_at is not None
        assert timedelta(days=30) <= r.outcome_observed_at - r.timestamp <= timedelta(days=60)
        assert r.outcome_observed_at <= timezone.now()
    assert all(r.outcome is None for r in records if r.timestamp.date() > today - timedelta(days=30))
    recent = [r.features_json["credit_amount"] for r in records if r.timestamp.date() > today - timedelta(days=30)]
    early = [r.features_json["credit_amount"] for r in records if r.timestamp.date() <= today - timedelta(days=30)]
    assert np.mean(recent) > 1.5 * np.mean(early)
    shifted = drift_report(model_version=demo_model, start=today - timedelta(days=29), end=today + timedelta(days=1))
    assert {c.name: c.psi for c in shifted.features}["credit_amount"] >= 0.25  # critical, were there 500 records
    call_command("seed_demo", "--history", "--days=61", "--per-day=12")
    assert "0 days seeded now" in capsys.readouterr().out
    assert Record.objects.count() == 732


def test_a_partly_seeded_history_is_completed_against_the_same_last_day(demo_model, embedder, capsys):
    call_command("seed_demo", "--history", "--days=31", "--per-day=3")
    Record.objects.filter(timestamp__date=timezone.now().date() - timedelta(days=3)).delete()  # an interrupted run
    call_command("seed_demo", "--history", "--days=31", "--per-day=3")
    assert "1 days seeded now, 3 records" in capsys.readouterr().out.splitlines()[-1]
    assert Record.objects.count() == 93


@pytest.mark.parametrize(
    ("args", "message"), [(["--days=10"], "--days must be"), (["--per-day=0"], "--per-day must be")]
)
def test_bad_arguments_are_one_line_errors(demo_model, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", "--history", *args)
    assert not Record.objects.exists()

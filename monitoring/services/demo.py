"""The demo history: days of simulated traffic through the predict path, with late outcomes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.types import FeatureRow
from monitoring.services.fold import monitoring_fold
from predictions.selectors import LoadedModel, loaded_model_get
from predictions.services import DEMO_MODEL_NAME
from records.models import Record
from records.prediction import prediction_create
from records.services import record_set_outcomes

HISTORY_PREFIX = "demo-history"
SHIFT_DAYS = 30  # the last 30 days ask for longer, larger loans


@dataclass
class HistorySummary:
    last_day: date
    days_seeded: int
    records: int
    outcomes: int


Progress = Callable[[int, int, HistorySummary], None]  # (days done, days, summary so far)


def _history_rows(
    rng: np.random.Generator, pool: list[tuple[FeatureRow, FeatureRow]], n: int, shifted: bool
) -> tuple[list[FeatureRow], list[FeatureRow]]:
    """``n`` applicants drawn from the pool: their features and their protected attributes."""
    picked = [pool[i] for i in rng.integers(0, len(pool), n)]
    rows = [dict(features) for features, _ in picked]
    if shifted:
        for row in rows:
            row["duration_in_month"] = min(72, round(row["duration_in_month"] * 1.5))
            row["credit_amount"] = row["credit_amount"] * 2
    return rows, [dict(protected) for _, protected in picked]


def _history_day(
    model: LoadedModel,
    pool: list[tuple[FeatureRow, FeatureRow]],
    day: date,
    shifted: bool,
    per_day: int,
    seed: int,
    request_id: str,
) -> tuple[int, int]:
    """One day of demo traffic through the predict path; outcomes drawn from each score, known 30
    to 60 days after the prediction (only those already due are set). Today's traffic stops at now:
    no record is ever stamped in the future."""
    rng = np.random.default_rng([seed, day.toordinal()])
    rows, protected = _history_rows(rng, pool, per_day, shifted)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    now = timezone.now()
    span = min(86_400.0, max(0.0, (now - start).total_seconds()))
    times = sorted(start + timedelta(seconds=float(s)) for s in rng.uniform(0, span, per_day))
    records = prediction_create(model=model, items=rows, protected=protected, request_id=request_id, timestamps=times)
    due = []
    for record in records:
        outcome = bool(rng.random() < record.risk_score)
        observed = record.timestamp + timedelta(days=float(rng.uniform(30, 60)))
        if observed <= now:
            due.append((record.pk, outcome, observed))
    return len(records), record_set_outcomes(outcomes=due)


def demo_history_seed(
    *, days: int = 90, per_day: int = 200, seed: int = 2026, progress: Progress | None = None
) -> HistorySummary:
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

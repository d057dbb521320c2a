"""Segments: one value of a category feature, its drift against its own training rows, its
performance, and a scan of many segments where Benjamini-Hochberg keeps the false alarms down."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from core.errors import ApplicationError
from monitoring.selectors.drift import Segment, drift_report, segment_scan, segment_values
from monitoring.selectors.outcomes import performance_report
from monitoring.services.fold import monitoring_fold
from monitoring.tests.conftest import START, store
from predictions.ml.features import encode
from predictions.ml.reference import encoded_bins
from predictions.selectors import loaded_model_get
from records.models import Record

pytestmark = pytest.mark.django_db(transaction=True)

DAY0 = START.date()


def _stream(rows, rng, *, days, per_day, shifted=None):
    """Traffic drawn from the demo rows; rows of the ``shifted`` segment ask for 3x the amount."""
    for day in range(days):
        pick = [dict(rows[i]) for i in rng.integers(0, len(rows), per_day)]
        for row in pick:
            if shifted and row[shifted.feature] == shifted.value:
                row["credit_amount"] *= 3
                row["duration_in_month"] = min(72, row["duration_in_month"] * 2)
        store(pick, days=[day] * per_day, rng=rng)
    monitoring_fold()


def test_a_segments_window_counts_are_its_records_bins(demo_model, rows):
    _stream(rows, np.random.default_rng(3), days=3, per_day=200)
    segment = Segment(feature="housing", value="rent")
    report = drift_report(model_version=demo_model, start=DAY0, end=DAY0 + timedelta(days=3), segment=segment)
    model = loaded_model_get(name="credit")
    records = [r for r in Record.objects.all() if r.features_json["housing"] == "rent"]
    encoded = encode(model.schema, [r.features_json for r in records])
    assert report.records == len(records) and 0 < len(records) < 600
    profile = demo_model.reference_profile
    for j, (spec, comparison) in enumerate(zip(model.schema, report.features, strict=True)):
        expected = np.bincount(
            encoded_bins(spec, encoded[:, j], profile["features"][j]["edges"]), minlength=len(comparison.window)
        )
        assert comparison.window == expected.tolist()
        assert comparison.baseline == profile["segments"]["housing"]["rent"]["features"][j]
    assert report.score.baseline == profile["segments"]["housing"]["rent"]["score"]  # type: ignore[union-attr]


def test_the_picker_lists_the_top_values_by_volume(demo_model, rows):
    _stream(rows, np.random.default_rng(5), days=2, per_day=300)
    picked = [
        s
        for s in segment_values(model_version=demo_model, start=DAY0, end=DAY0 + timedelta(days=2))
        if s.feature == "purpose"
    ]
    volumes = {s.value: Record.objects.filter(features_json__purpose=s.value).count() for s in picked}
    assert [s.records for s in picked] == sorted(volumes.values(), reverse=True) == [volumes[s.value] for s in picked]
    assert len(picked) == 5 and picked[0].value == "radio/television"


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_only_the_shifted_segment_is_flagged_among_many(demo_model, rows):
    shifted = Segment(feature="housing", value="own")
    _stream(rows, np.random.default_rng(7), days=7, per_day=400, shifted=shifted)
    scan = segment_scan(model_version=demo_model, start=DAY0, end=DAY0 + timedelta(days=7))
    assert len(scan) > 20
    flagged = {(s.feature, s.value) for s in scan if s.flagged}
    assert ("housing", "own") in flagged
    # Segments that mostly overlap "own" shift too; segments disjoint from it must not be flagged.
    assert ("housing", "rent") not in flagged and ("housing", "for free") not in flagged
    for item in scan:
        assert item.q_value >= item.p_value or np.isnan(item.p_value)


def test_a_segment_must_be_a_category_feature_with_reference_rows(demo_model, rows):
    _stream(rows, np.random.default_rng(1), days=1, per_day=10)
    end = DAY0 + timedelta(days=1)
    with pytest.raises(ApplicationError, match="not a category or boolean feature"):
        drift_report(model_version=demo_model, start=DAY0, end=end, segment=Segment("credit_amount", "5"))
    with pytest.raises(ApplicationError, match="training had no such rows"):
        drift_report(model_version=demo_model, start=DAY0, end=end, segment=Segment("housing", "castle"))
    with pytest.raises(ApplicationError, match="not a category or boolean feature"):
        performance_report(model_version=demo_model, start=DAY0, end=end, segment=Segment("nope", "x"))
    against = drift_report(
        model_version=demo_model, start=DAY0, end=end, against=(DAY0, end), segment=Segment("housing", "castle")
    )
    assert against.records == 0 and against.status == "too_few"

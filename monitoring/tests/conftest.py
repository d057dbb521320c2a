"""Records for the monitoring tests: the demo data scored and stored on chosen days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from predictions.inference import inference_predict
from predictions.ml.features import decode_row, encode_frame
from predictions.ml.training import read_training_csv
from predictions.selectors import loaded_model_get
from records.services import RecordOrigin, record_create_many, records_build

START = datetime(2026, 9, 1, tzinfo=UTC)


_ROWS: list[dict] = []  # read once per process: every demo version has the same schema


def load_rows():
    """The demo data as request rows of the registered demo model (fresh copies)."""
    if not _ROWS:
        model = loaded_model_get(name="credit")
        frame = read_training_csv(Path(settings.BASE_DIR) / "data" / "german_credit.csv")
        encoded = encode_frame(frame.drop(columns=["creditability"]), model.schema)
        _ROWS.extend(decode_row(model.schema, row) for row in encoded)
    return [dict(row) for row in _ROWS]


@pytest.fixture
def rows(demo_model):
    return load_rows()


def store(rows, *, days, outcomes=None, rng, protected=None):
    """Score ``rows`` and store them on the given days (no embedding: monitoring does not read it),
    with each row's protected attributes if given."""
    model = loaded_model_get(name="credit")
    when = [START + timedelta(days=int(d), seconds=int(rng.integers(0, 86_400))) for d in days]
    origin = RecordOrigin(timestamps=when, outcomes=outcomes, protected=protected)
    built = records_build(
        model=model, rows=rows, predictions=inference_predict(model=model, rows=rows), embeddings=None, origin=origin
    )
    return record_create_many(records=built)


@pytest.fixture(autouse=True)
def _no_safety_margin(monkeypatch):
    # The fold trusts only records stored SAFETY_SECONDS ago; a test's records are all committed.
    monkeypatch.setattr("monitoring.services.fold.SAFETY_SECONDS", 0)

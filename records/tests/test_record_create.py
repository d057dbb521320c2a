"""record_create_many: one statement, every column as given, all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from predictions.inference import inference_predict
from predictions.selectors import loaded_model_get
from records.models import Record
from records.services import RecordOrigin, record_create_many, records_build


def _built(rows, **origin):
    model = loaded_model_get(name="credit")
    vectors = np.eye(len(rows), 384, dtype=np.float32)
    return records_build(
        model=model, rows=rows, predictions=inference_predict(model=model, rows=rows), embeddings=vectors,
        origin=RecordOrigin(**origin),
    )  # fmt: skip


def test_every_column_is_stored_as_given(demo_model, german_credit_row, api_user):
    when = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    [built] = _built(
        [german_credit_row], request_id="r-1", created_by=api_user, timestamps=[when], outcomes=[True],
        fingerprints=["f" * 64],
    )  # fmt: skip
    [returned] = record_create_many(records=[built])
    stored = Record.objects.get(pk=returned.pk)
    assert (stored.timestamp, stored.request_id, stored.created_by, stored.fingerprint) == (
        when,
        "r-1",
        api_user,
        "f" * 64,
    )
    assert stored.features_json == german_credit_row and stored.drivers == built.drivers
    assert stored.contributions == built.contributions and stored.risk_score == built.risk_score
    assert np.array_equal(np.asarray(stored.embedding), built.embedding)
    assert stored.outcome is True and stored.outcome_observed_at == when
    assert stored.outcome_changed_at is not None and stored.stored_at is not None  # set by the database clock
    returned.request_id = "r-2"
    returned.save(update_fields=["request_id"])  # the returned object is a saved record
    assert Record.objects.get(pk=returned.pk).request_id == "r-2"


def test_a_record_without_an_outcome_has_no_outcome_change(demo_model, german_credit_row):
    [record] = record_create_many(records=_built([german_credit_row]))
    assert Record.objects.get(pk=record.pk).outcome_changed_at is None


def test_a_failing_row_stores_none_of_its_batch(demo_model, german_credit_row):
    built = _built([german_credit_row, german_credit_row], fingerprints=["same", "same"])
    with pytest.raises(IntegrityError), transaction.atomic():  # a savepoint, as the test runs in a transaction
        record_create_many(records=built)
    assert not Record.objects.exists()

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


def test_the_insert_binds_its_values_on_the_server(demo_model, german_credit_row, monkeypatch):
    import psycopg

    record_create_many(records=_built([german_credit_row]))  # registers the vector types on the connection
    kinds = []
    execute = psycopg.Cursor.execute

    def spy(cursor, *args, **kwargs):
        kinds.append(type(cursor))
        return execute(cursor, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    record_create_many(records=_built([german_credit_row]))
    # a ClientCursor (Django's cursor factory) would render the vector into the SQL as text
    assert kinds == [psycopg.Cursor]


def test_a_batch_beyond_one_statements_parameters_is_split_and_still_all_or_nothing(
    demo_model, german_credit_row, monkeypatch
):
    from records import services
    from records.models import ShadowResult
    from records.services import shadow_results_build

    per_record = len(services._INSERT_COLUMNS) + 1 + len(services._SHADOW_COLUMNS)
    monkeypatch.setattr(services, "MAX_PARAMETERS", 2 * per_record)  # two records a statement
    model = loaded_model_get(name="credit")
    built = _built([german_credit_row] * 5)
    shadows = shadow_results_build(
        model=model, records=built[1:], predictions=inference_predict(model=model, rows=[german_credit_row] * 4)
    )
    record_create_many(records=built, shadows=shadows)
    assert Record.objects.count() == 5 and ShadowResult.objects.count() == 4
    assert set(ShadowResult.objects.values_list("record_id", flat=True)) == {r.pk for r in built[1:]}

    failing = _built([german_credit_row] * 5, fingerprints=["a", "b", "c", "d", "a"])  # the last statement fails
    with pytest.raises(IntegrityError), transaction.atomic():
        record_create_many(records=failing)
    assert Record.objects.count() == 5

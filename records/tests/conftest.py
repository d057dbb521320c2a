from datetime import timedelta

import pytest
from django.utils import timezone

from predictions.ml.features import decode_row, encode_frame
from predictions.ml.training import read_training_csv
from predictions.selectors import loaded_model_get
from records.models import Record
from records.services import records_predict


@pytest.fixture(scope="session")
def german_rows(django_db_blocker):
    from django.conf import settings

    frame = read_training_csv(settings.BASE_DIR / "data" / "german_credit.csv")
    return frame


@pytest.fixture
def make_records(demo_model, embedder, german_credit_trained, german_rows):
    """make_records(n, user=..., start=0): store n real predictions, one hour apart, newest last."""
    schema = german_credit_trained.schema
    encoded = encode_frame(german_rows.drop(columns=["creditability"]), schema)

    def make(n, *, user=None, start=0, model_name="credit"):
        model = loaded_model_get(name=model_name)
        items = [decode_row(schema, encoded[(start + i) % len(encoded)]) for i in range(n)]
        scored = records_predict(model=model, items=items, created_by=user)
        base = timezone.now() - timedelta(hours=n + start)
        for i, s in enumerate(scored):
            Record.objects.filter(pk=s.record.pk).update(timestamp=base + timedelta(hours=i))
        return list(Record.objects.filter(pk__in=[s.record.pk for s in scored]).order_by("timestamp"))

    return make

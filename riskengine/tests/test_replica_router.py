"""ReadReplicaRouter: the records' list and k-NN reads go to the replica; writes, reads inside a
primary transaction and single-record reads stay on the primary.

The replica here is a second connection to the test database (the ``replica`` alias that conftest
mirrors onto it; committed data, so the tests run in real transactions): what is checked is which
connection each query travels on.
"""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test.utils import CaptureQueriesContext

from core.db.router import REPLICA, ReadReplicaRouter
from records.models import Record
from records.selectors import RecordFilters, record_get, record_list, record_list_similar

pytestmark = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])


@pytest.fixture
def replica(settings):
    settings.DATABASE_REPLICA_URL = "postgres://replica.test/riskengine"  # switches the router on
    return connections[REPLICA]


def _record_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "records_record" in q["sql"]]


def test_it_sends_record_lists_and_similar_cases_to_the_replica(replica, make_records, staff_user):
    records = make_records(5)
    primary = connections[DEFAULT_DB_ALIAS]
    with CaptureQueriesContext(replica) as on_replica, CaptureQueriesContext(primary) as on_primary:
        listed = list(record_list(user=staff_user, filters=RecordFilters(risk_labels=[])))
        similar = record_list_similar(
            user=staff_user, vector=records[0].embedding, model_version_id=records[0].model_version_id, k=3
        )
    assert {r.pk for r in listed} == {r.pk for r in records}
    assert similar[0].record.pk == records[0].pk
    assert len(_record_queries(on_replica)) == 2
    assert any("hnsw.ef_search" in q["sql"] for q in on_replica.captured_queries)
    assert _record_queries(on_primary) == []


def test_the_records_api_list_reads_from_the_replica(replica, make_records, staff_user, api_client):
    make_records(3)
    api_client.force_authenticate(staff_user)
    with CaptureQueriesContext(replica) as on_replica:
        response = api_client.get("/api/records/")
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    assert _record_queries(on_replica)


def test_writes_single_reads_and_reads_in_a_transaction_stay_on_the_primary(replica, make_records, staff_user):
    [record] = make_records(1)
    with CaptureQueriesContext(replica) as on_replica:
        assert record_get(user=staff_user, record_id=record.pk) == record
        with transaction.atomic():
            assert Record.objects.filter(pk=record.pk).exists()
            Record.objects.filter(pk=record.pk).update(outcome=True)
    assert on_replica.captured_queries == []
    assert Record.objects.db_manager(DEFAULT_DB_ALIAS).get(pk=record.pk).outcome is True


def test_without_a_replica_the_router_leaves_everything_on_the_primary(settings):
    settings.DATABASE_REPLICA_URL = ""
    router = ReadReplicaRouter()
    assert router.db_for_read(Record) is None
    assert router.db_for_write(Record) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "records") is False

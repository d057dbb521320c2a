import numpy as np
import pytest
from django.db import connection

from records.models import Record

LIST = "/api/records/"


@pytest.fixture
def staff_api(api_client, staff_user):
    api_client.force_authenticate(staff_user)
    return api_client


def _cosine_distance(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


def test_nearest_excludes_the_record_and_is_ordered_by_distance(staff_api, make_records):
    records = make_records(40)
    query = records[7]
    response = staff_api.get(f"{LIST}{query.pk}/nearest/?k=10")
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 10
    assert str(query.pk) not in {r["id"] for r in results}
    distances = [r["distance"] for r in results]
    assert distances == sorted(distances)
    # the distances are the true cosine distances, and nothing closer was left out (exact check)
    vectors = {str(r.pk): np.asarray(r.embedding) for r in Record.objects.all()}
    exact = sorted(
        (_cosine_distance(vectors[str(query.pk)], v), pk) for pk, v in vectors.items() if pk != str(query.pk)
    )
    assert [pk for _, pk in exact[:10]] == [r["id"] for r in results]
    for result in results:
        assert result["distance"] == pytest.approx(
            _cosine_distance(vectors[str(query.pk)], vectors[result["id"]]), abs=1e-5
        )
    assert set(results[0]) == {"id", "distance", "risk_score", "risk_label", "decision", "outcome", "timestamp"}


def test_nearest_stays_within_the_model_version_and_applies_filters(staff_api, make_records, german_credit_trained):
    from predictions.services import model_version_promote, model_version_register

    first = make_records(15)
    model_version_promote(model_version=model_version_register(trained=german_credit_trained, name="credit"))
    from predictions.selectors import loaded_model_cache_clear

    loaded_model_cache_clear()
    second = make_records(15, start=15)
    assert {r.model_id for r in second} == {"credit@2"}
    results = staff_api.get(f"{LIST}{first[0].pk}/nearest/?k=50").json()["results"]
    assert {r["id"] for r in results} == {str(r.pk) for r in first[1:]}
    high = staff_api.get(f"{LIST}{first[0].pk}/nearest/?k=50&risk_label=high").json()["results"]
    assert {r["risk_label"] for r in high} <= {"high"}
    assert {r["id"] for r in high} == {str(r.pk) for r in first[1:] if r.risk_label == "high"}


def test_nearest_by_features_is_not_stored_and_by_vector_works(staff_api, make_records, german_credit_row):
    records = make_records(20)
    before = Record.objects.count()
    response = staff_api.post(
        f"{LIST}nearest/", {"model": "credit", "features": german_credit_row, "k": 5}, format="json"
    )
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 5 and Record.objects.count() == before
    # the first German credit row is stored among the records: it is its own nearest, at distance ~0
    assert response.json()["results"][0]["distance"] == pytest.approx(0.0, abs=1e-5)
    vector = [float(x) for x in records[3].embedding]
    by_vector = staff_api.post(f"{LIST}nearest/", {"model_id": "credit@1", "vector": vector, "k": 3}, format="json")
    assert by_vector.json()["results"][0]["id"] == str(records[3].pk)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "credit"}, "features"),
        ({"model": "credit", "features": {}, "vector": [0.1] * 384}, "features"),
        ({"model": "credit", "vector": [0.1] * 383 + [2e6]}, "vector[383]"),
        ({"model": "credit", "vector": [0.1] * 384, "neighbours": 5}, "neighbours"),
        ({"model": "credit", "vector": [0.1] * 10}, "vector"),
        ({"model": "credit", "vector": [0.0] * 384}, "vector"),
        ({"model": "credit", "features": {"age_in_years": "x"}}, "features.age_in_years"),
        ({"features": {}}, "model"),
        ({"model": "credit", "vector": [0.1] * 384, "k": 101}, "k"),
    ],
)
def test_bad_nearest_queries_name_the_field(staff_api, demo_model, embedder, body, field):
    response = staff_api.post(f"{LIST}nearest/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()


def test_a_query_vector_is_only_a_direction(staff_api, make_records):
    records = make_records(5)
    vector = [float(x) for x in records[2].embedding]
    for scale in (1e-30, 1.0, 1e5):
        response = staff_api.post(
            f"{LIST}nearest/", {"model_id": "credit@1", "vector": [x * scale for x in vector], "k": 1}, format="json"
        )
        assert response.status_code == 200, response.content
        [nearest] = response.json()["results"]
        assert nearest["id"] == str(records[2].pk)
        assert nearest["distance"] == pytest.approx(0.0, abs=1e-5)


def test_k_is_bounded(staff_api, make_records):
    record = make_records(2)[0]
    assert staff_api.get(f"{LIST}{record.pk}/nearest/?k=101").status_code == 400
    assert staff_api.get(f"{LIST}{record.pk}/nearest/?k=0").status_code == 400


def test_the_neighbour_query_uses_the_hnsw_index(make_records, staff_user):
    from records.selectors import record_list_similar

    records = make_records(30)
    # at 30 rows the planner rightly prefers a sort; forbid sorting to see that the index serves the order
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off")
    try:
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            record_list_similar(
                user=staff_user,
                vector=np.asarray(records[0].embedding),
                model_version_id=records[0].model_version_id,
                k=5,
            )
        sql = next(q["sql"] for q in queries.captured_queries if "<=>" in q["sql"])
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_sort")
    assert "record_embedding_hnsw" in plan

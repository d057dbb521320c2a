"""The tests run on real PostgreSQL with pgvector, and the schema has the indexes the product needs."""

import numpy as np
import pytest
from django.db import connection
from pgvector.django import CosineDistance

from core.embedded_pg import ensure_server, is_running, stop_server
from predictions.models import ModelVersion
from records.models import Record


@pytest.mark.django_db
def test_it_runs_on_postgresql_with_pgvector():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    assert row is not None
    major, minor, *_ = (int(part) for part in row[0].split("."))
    assert (major, minor) >= (0, 5)


@pytest.mark.django_db
def test_cosine_queries_use_the_hnsw_index():
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, 384))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    version = ModelVersion.objects.create(name="t", version=1, artifact=b"", artifact_sha256="")
    Record.objects.bulk_create(
        Record(
            model_version=version,
            model_id=version.model_id,
            features_json={},
            embedding=vector,
            risk_score=0.5,
            risk_label="low",
        )
        for vector in vectors
    )
    query = Record.objects.order_by(CosineDistance("embedding", vectors[0].tolist()))[:10]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE records_record")
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = query.explain()
    assert "Index Scan using record_embedding_hnsw" in plan
    stored = Record.objects.get(pk=query[0].pk)
    assert np.allclose(np.asarray(stored.embedding), vectors[0], atol=1e-6)


@pytest.mark.django_db
def test_the_dashboard_indexes_exist():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'records_record'")
        indexes = dict(cursor.fetchall())
    assert "USING hnsw (embedding vector_cosine_ops)" in indexes["record_embedding_hnsw"]
    assert '(model_version_id, "timestamp" DESC, id DESC)' in indexes["record_model_ts_idx"]
    assert '(risk_label, "timestamp" DESC, id DESC)' in indexes["record_label_ts_idx"]
    assert "(risk_score, id)" in indexes["record_score_idx"]


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_the_embedded_server_starts_creates_the_database_and_stops(tmp_path):
    import psycopg

    data_dir = tmp_path / "data"
    server = ensure_server(data_dir, "riskengine_probe")
    try:
        assert is_running(data_dir)
        with psycopg.connect(server.uri("riskengine_probe")) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("riskengine_probe",)
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            assert conn.execute("SELECT '[1,0]'::vector <=> '[0,1]'::vector").fetchone() == (1.0,)
        # attaching again is idempotent and cheap
        assert ensure_server(data_dir, "riskengine_probe") == server
    finally:
        assert stop_server(data_dir) is True
    assert not is_running(data_dir)
    assert stop_server(data_dir) is False
    restarted = ensure_server(data_dir, "riskengine_probe")  # `make run` after `make stop`
    with psycopg.connect(restarted.uri("riskengine_probe")) as conn:
        assert conn.execute("SHOW shared_buffers").fetchone() == ("3GB",)
    assert stop_server(data_dir) is True

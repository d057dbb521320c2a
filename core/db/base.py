"""The project's PostgreSQL backend (``ENGINE: core.db``), for every database alias.

- With ``EMBEDDED_DATA_DIR`` in the settings (``DATABASE_URL`` unset), it starts or attaches to the
  embedded server before connecting. The server is ensured once per process; after that a lost
  server is reported as a normal connection error (and the service's health checks say so) rather
  than silently restarted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.backends.postgresql import base

from core.embedded_pg import ensure_server


class DatabaseWrapper(base.DatabaseWrapper):
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

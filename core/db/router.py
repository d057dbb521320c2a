"""Read replicas: the records' reads (lists, filters, charts, k-NN) go to ``replica`` when one is
configured (``DATABASE_REPLICA_URL``); everything else stays on ``default``.

- Every write goes to the primary, and so does every read made inside a transaction on the
  primary: a service that reads and then writes sees its own data.
- Only ``records.Record`` is routed. Idempotency keys, import jobs, the registry, users, keys and
  rate-limit counters are read where they are written.
- Single-record reads that must see a write just made (``record_get``) ask for the primary.
- Migrations run on the primary only; the replica receives them through replication.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

REPLICA = "replica"
_ROUTED = {("records", "record")}


def replica_configured() -> bool:
    return bool(settings.DATABASE_REPLICA_URL) and REPLICA in connections.settings


class ReadReplicaRouter:
    def db_for_read(self, model: type[Model], **hints: object) -> str | None:
        if (model._meta.app_label, model._meta.model_name) not in _ROUTED or not replica_configured():
            return None
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model: type[Model], **hints: object) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: object) -> bool:
        return True  # the replica holds the primary's data

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: object) -> bool:
        return db == DEFAULT_DB_ALIAS

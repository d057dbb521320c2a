from __future__ import annotations

from django.core.management.base import BaseCommand

from records.idempotency import idempotency_keys_cleanup


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than IDEMPOTENCY_TTL_HOURS (24 h)."

    def handle(self, *args: str, **options: object) -> None:
        deleted = idempotency_keys_cleanup()
        self.stdout.write(f"deleted {deleted} expired idempotency key(s)\n")

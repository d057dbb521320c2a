"""python manage.py run_worker [db_worker's options]: the task worker, plus the import watchdog.

It is django-tasks-db's ``db_worker`` with one addition: every REAP_SECONDS it looks for import jobs
whose worker died (stale heartbeat) and queues them again or fails them, so no job stays running.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connection
from django_tasks_db.management.commands import db_worker

from records.tasks import import_jobs_reap

logger = logging.getLogger(__name__)

REAP_SECONDS = 15


def _watch(stopped: threading.Event) -> None:
    while not stopped.wait(REAP_SECONDS):
        try:
            if reaped := import_jobs_reap():
                logger.warning("re-queued or failed %d import job(s) whose worker stopped", reaped)
        except Exception:  # the database may be down for a while; try again next round
            logger.exception("the import watchdog failed")
        finally:
            connection.close()


class Command(db_worker.Command):
    help = "Run background tasks (CSV imports) and re-queue or fail imports whose worker died."

    def handle(self, *args: str, **options: Any) -> None:  # passed on to django-tasks' worker as they came
        stopped = threading.Event()
        watchdog = threading.Thread(target=_watch, args=(stopped,), daemon=True, name="import-watchdog")
        watchdog.start()
        try:
            super().handle(*args, **options)
        finally:
            stopped.set()

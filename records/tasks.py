"""Background CSV imports on Django's Tasks API (the django-tasks backport, database backend).

Start workers with ``python manage.py run_worker``; any number of them, on any machine sharing the
database, take jobs from the same queue (the file itself is stored in the database too).

Every job ends ``done`` or ``failed``: any error fails it with a readable reason, keeping the rows
stored so far and the rejects collected so far. A running job's worker writes a heartbeat every
``HEARTBEAT_SECONDS``; a job whose heartbeat is older than ``STALE_SECONDS`` lost its worker, and
:func:`import_jobs_reap` (run by every worker, and by the import pages) queues it again (the
backfill is idempotent, so it resumes where it stopped) or, after ``MAX_ATTEMPTS``, fails it.
"""

from __future__ import annotations

import gzip
import io
import logging
import shutil
import tempfile
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import IO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django_tasks import task

from core.principal import Principal, user_or_none
from predictions.selectors import ModelNotFound, loaded_model_get
from records.backfill import BackfillError, BackfillOptions, BackfillSummary, backfill_csv
from records.models import ImportJob

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
STALE_SECONDS = 30
MAX_ATTEMPTS = 3


class _Heartbeat(threading.Thread):
    """Marks the job alive every HEARTBEAT_SECONDS until stopped (on its own database connection)."""

    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__(daemon=True, name=f"import-heartbeat-{job_id}")
        self.job_id = job_id
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                ImportJob.objects.filter(pk=self.job_id, status=ImportJob.Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        except Exception:  # a lost heartbeat only means the reaper may step in
            logger.exception("import %s: heartbeat failed", self.job_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=HEARTBEAT_SECONDS + 5)


def _claim(job_id: str) -> ImportJob | None:
    """The job, marked running by this worker; None if it is not queued (done, failed, or taken)."""
    now = timezone.now()
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().defer("data", "rejects").filter(pk=job_id).first()
        if job is None or job.status != ImportJob.Status.QUEUED:
            return None
        job.status = ImportJob.Status.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.attempts += 1
        job.error = ""
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "error"])
    return job


def _save_progress(job: ImportJob, summary: BackfillSummary) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        total_rows=summary.total_rows,
        processed_rows=summary.processed_rows,
        inserted_rows=summary.inserted_rows,
        skipped_rows=summary.skipped_rows,
        rejected_rows=summary.rejected_rows,
        ignored_columns=summary.ignored_columns,
        bytes_read=summary.bytes_read,
        bytes_total=summary.bytes_total,
        heartbeat_at=timezone.now(),
    )


def _options(job: ImportJob) -> BackfillOptions:
    options = job.options
    return BackfillOptions(
        timestamp_column=options.get("timestamp_column") or None,
        outcome_column=options.get("outcome_column") or None,
        outcome_positive=options.get("outcome_positive") or None,
        outcome_negative=options.get("outcome_negative") or None,
        id_column=options.get("id_column") or None,
        request_id=f"import:{job.pk}",
        max_expanded_bytes=settings.IMPORT_MAX_EXPANDED_BYTES,
    )


def _run(job: ImportJob, summary: BackfillSummary, rejects: IO[str]) -> None:
    model = loaded_model_get(name=job.options["model"])
    data = ImportJob.objects.filter(pk=job.pk).values_list("data", flat=True).get()
    source = io.BytesIO(bytes(data))
    backfill_csv(
        source=source,
        name=job.filename,
        model=model,
        options=_options(job),
        rejects=rejects,
        progress=lambda s: _save_progress(job, s),
        summary=summary,
        size=len(source.getbuffer()),
    )


def _failure(exc: BaseException, summary: BackfillSummary) -> str:
    reason = str(exc) if isinstance(exc, BackfillError | ModelNotFound) else f"{type(exc).__name__}: {exc}"
    return (
        f"{reason[:2000]} The import stopped after {summary.processed_rows} rows: "
        f"{summary.inserted_rows} were stored and stay stored, {summary.rejected_rows} rejected so far."
    )


@task()
def run_import(job_id: str) -> str:
    job = _claim(job_id)
    if job is None:
        return "skipped"
    summary = BackfillSummary()
    heartbeat = _Heartbeat(job.pk)
    heartbeat.start()
    # Rejects go to a compressed temporary file as they come, not to memory.
    with tempfile.TemporaryFile() as spool:
        with gzip.GzipFile(fileobj=spool, mode="wb", mtime=0) as archive:
            rejects = io.TextIOWrapper(archive, encoding="utf-8", newline="")
            try:
                _run(job, summary, rejects)
                status, error = ImportJob.Status.DONE, ""
            except Exception as exc:
                logger.warning("import %s failed: %s", job.pk, exc, exc_info=not isinstance(exc, BackfillError))
                status, error = ImportJob.Status.FAILED, _failure(exc, summary)
            finally:
                heartbeat.stop()
            rejects.flush()
            rejects.detach()
        spool.seek(0)
        stored = io.BytesIO()
        shutil.copyfileobj(spool, stored, length=1 << 20)
    _save_progress(job, summary)
    ImportJob.objects.filter(pk=job.pk).update(
        status=status,
        error=error,
        rejects=stored.getvalue() if summary.rejected_rows else None,
        finished_at=timezone.now(),
    )
    return str(status)


def import_jobs_reap(*, now: datetime | None = None) -> int:
    """Queue again (or, after MAX_ATTEMPTS, fail) every running job whose worker stopped beating."""
    now = now or timezone.now()
    stale = ImportJob.objects.filter(
        status=ImportJob.Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=STALE_SECONDS)
    )
    reaped = 0
    for job in stale.defer("data", "rejects"):
        with transaction.atomic():
            if job.attempts >= MAX_ATTEMPTS:
                updated = stale.filter(pk=job.pk).update(
                    status=ImportJob.Status.FAILED,
                    finished_at=now,
                    error=(
                        f"Its worker stopped responding {job.attempts} times (no heartbeat since "
                        f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC). {job.inserted_rows} rows were stored and "
                        "stay stored; uploading the file again resumes without storing any row twice."
                    ),
                )
            else:
                updated = stale.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
                if updated:
                    transaction.on_commit(partial(run_import.enqueue, str(job.pk)))
        reaped += updated
    return reaped


def _compressed(upload: UploadedFile) -> bytes:
    """The upload, gzip-compressed (as it came, if it already is: its expanded size is checked as
    the job reads it, once)."""
    head = upload.read(2)
    upload.seek(0)
    if head == b"\x1f\x8b":
        return bytes(upload.read())
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as archive:
        shutil.copyfileobj(upload, archive, length=1 << 20)
    return out.getvalue()


def import_job_create(*, upload: UploadedFile, options: Mapping[str, str | None], user: Principal | None) -> ImportJob:
    """Store the upload (compressed) and queue its import."""
    job = ImportJob.objects.create(
        created_by=user_or_none(user),
        filename=(upload.name or "upload.csv")[:255],
        data=_compressed(upload),
        options=options,
    )
    run_import.enqueue(str(job.pk))
    return job

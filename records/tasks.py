"""Background CSV imports on Django's Tasks API (the django-tasks backport, database backend).

Start workers with ``python manage.py run_worker``; any number of them, on any machine sharing the
database, take jobs from the same queue (the file itself is stored in the database too, compressed,
in chunks of a megabyte: neither the upload nor the job holds it in memory, and the chunks are
deleted when the job ends).

Every job ends ``done`` or ``failed``: any error fails it with a readable reason, keeping the rows
stored so far and the rejects collected so far. A running job's worker writes a heartbeat every
``HEARTBEAT_SECONDS``; a job whose heartbeat is older than ``STALE_SECONDS`` lost its worker, and
:func:`import_jobs_reap` (run by every worker, and by the import pages) queues it again (the
backfill is idempotent, so it resumes where it stopped) or, after ``MAX_ATTEMPTS``, fails it. A job
that beats but stores nothing for IMPORT_STALL_SECONDS hangs, and one running past
IMPORT_MAX_SECONDS overran: both are failed with that reason.
"""

from __future__ import annotations

import gzip
import io
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django_tasks import task

from core.errors import ApplicationError
from core.principal import Principal, user_or_none
from predictions.selectors import ModelNotFound, loaded_model_get
from records.backfill import BackfillError, BackfillOptions, BackfillSummary, backfill_csv
from records.models import ImportChunk, ImportJob

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
        job.heartbeat_at = job.progressed_at = now
        job.attempts += 1
        job.error = ""
        job.save(update_fields=["status", "started_at", "heartbeat_at", "progressed_at", "attempts", "error"])
    return job


def _save_progress(job: ImportJob, summary: BackfillSummary) -> None:
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        total_rows=summary.total_rows,
        processed_rows=summary.processed_rows,
        inserted_rows=summary.inserted_rows,
        skipped_rows=summary.skipped_rows,
        rejected_rows=summary.rejected_rows,
        ignored_columns=summary.ignored_columns,
        bytes_read=summary.bytes_read,
        bytes_total=summary.bytes_total,
        heartbeat_at=now,
        progressed_at=now,
    )


def _rows_today(user_id: int | None, *, besides: uuid.UUID | None = None) -> int:
    """The rows a user's imports of the last 24 hours read (but job ``besides``); 0 for nobody's."""
    if user_id is None:
        return 0
    jobs = ImportJob.objects.filter(created_by=user_id, created_at__gte=timezone.now() - timedelta(days=1))
    if besides is not None:
        jobs = jobs.exclude(pk=besides)
    return int(jobs.aggregate(n=Sum("processed_rows"))["n"] or 0)


def _rows_allowed(job: ImportJob) -> int:
    """IMPORT_MAX_ROWS, or less: what is left of the user's IMPORT_MAX_ROWS_PER_DAY after the rows of
    their other imports of the last 24 hours."""
    used = _rows_today(job.created_by_id, besides=job.pk)
    return max(0, min(settings.IMPORT_MAX_ROWS, settings.IMPORT_MAX_ROWS_PER_DAY - used))


def _options(job: ImportJob) -> BackfillOptions:
    options = job.options
    started = job.started_at or timezone.now()
    remaining = settings.IMPORT_MAX_SECONDS - (timezone.now() - started).total_seconds()
    return BackfillOptions(
        timestamp_column=options.get("timestamp_column") or None,
        outcome_column=options.get("outcome_column") or None,
        outcome_positive=options.get("outcome_positive") or None,
        outcome_negative=options.get("outcome_negative") or None,
        id_column=options.get("id_column") or None,
        request_id=f"import:{job.pk}",
        max_expanded_bytes=settings.IMPORT_MAX_EXPANDED_BYTES,
        max_line_length=settings.IMPORT_MAX_LINE_LENGTH,
        max_columns=settings.IMPORT_MAX_COLUMNS,
        max_rows=_rows_allowed(job),
        deadline=time.monotonic() + remaining,  # a resumed job keeps its first start's deadline
    )


class _ChunkReader(io.RawIOBase):
    """The job's stored upload, read a chunk (one query) at a time."""

    def __init__(self, job_id: uuid.UUID) -> None:
        self.job_id, self.index, self.buffer = job_id, 0, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # io's WriteableBuffer: any writable bytes-like object
        if not self.buffer:
            chunk = ImportChunk.objects.filter(job_id=self.job_id, index=self.index).values_list("data", flat=True)
            data = chunk.first()
            if data is None:
                return 0
            self.buffer, self.index = memoryview(bytes(data)), self.index + 1
        n = min(len(buffer), len(self.buffer))
        buffer[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        return n


def _stored_upload(job: ImportJob) -> IO[bytes]:
    legacy = ImportJob.objects.filter(pk=job.pk).values_list("data", flat=True).get()
    if legacy is not None:  # a job queued before uploads were chunked
        return io.BytesIO(bytes(legacy))
    return io.BufferedReader(_ChunkReader(job.pk), buffer_size=ImportChunk.CHUNK_BYTES)


def _run(job: ImportJob, summary: BackfillSummary, rejects: IO[str]) -> None:
    model = loaded_model_get(name=job.options["model"])
    backfill_csv(
        source=_stored_upload(job),
        name=job.filename,
        model=model,
        options=_options(job),
        rejects=rejects,
        progress=lambda s: _save_progress(job, s),
        summary=summary,
        size=job.bytes_total,
    )


def _failure(exc: BaseException, summary: BackfillSummary) -> str:
    reason = str(exc) if isinstance(exc, BackfillError | ModelNotFound) else f"{type(exc).__name__}: {exc}"
    reason = reason[:2000].rstrip()
    return (
        f"{reason if reason.endswith('.') else reason + '.'} The import stopped after {summary.processed_rows} rows: "
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
    # only if still running: a watchdog that failed it meanwhile (hung, overran) has the last word
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=status,
        error=error,
        rejects=stored.getvalue() if summary.rejected_rows else None,
        finished_at=timezone.now(),
    )
    _upload_delete(job.pk)
    return str(status)


def _upload_delete(job_id: uuid.UUID) -> None:
    """An ended job's upload is not kept (its rejects are, for IMPORT_REJECTS_DAYS)."""
    ImportChunk.objects.filter(job_id=job_id).delete()
    ImportJob.objects.filter(pk=job_id).exclude(data=None).update(data=None)


def _fail(jobs: Any, job: ImportJob, now: datetime, error: str) -> int:
    updated = int(jobs.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, finished_at=now, error=error))
    if updated:
        _upload_delete(job.pk)
    return updated


def _stored_so_far(job: ImportJob) -> str:
    return (
        f"{job.inserted_rows} rows were stored and stay stored; uploading the file again resumes "
        "without storing any row twice."
    )


def _reap_hung(now: datetime) -> int:
    """Fail running jobs that overran IMPORT_MAX_SECONDS or stored nothing for IMPORT_STALL_SECONDS
    (their heartbeat may still beat: the thread beats, the import does not move)."""
    running = ImportJob.objects.filter(status=ImportJob.Status.RUNNING)
    overran = running.filter(started_at__lt=now - timedelta(seconds=settings.IMPORT_MAX_SECONDS + STALE_SECONDS))
    stalled = running.filter(progressed_at__lt=now - timedelta(seconds=settings.IMPORT_STALL_SECONDS))
    reaped = 0
    for job in overran.defer("data", "rejects"):
        error = (
            f"It ran past its deadline of {settings.IMPORT_MAX_SECONDS} s (IMPORT_MAX_SECONDS). {_stored_so_far(job)}"
        )
        reaped += _fail(overran, job, now, error)
    for job in stalled.defer("data", "rejects"):
        error = (
            f"It stored nothing for {settings.IMPORT_STALL_SECONDS} s although its worker was alive: it hung "
            f"(IMPORT_STALL_SECONDS). {_stored_so_far(job)}"
        )
        reaped += _fail(stalled, job, now, error)
    return reaped


def import_jobs_reap(*, now: datetime | None = None) -> int:
    """Queue again (or, after MAX_ATTEMPTS, fail) every running job whose worker stopped beating; fail
    every job that hangs or overran its deadline."""
    now = now or timezone.now()
    reaped = _reap_hung(now)
    stale = ImportJob.objects.filter(
        status=ImportJob.Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=STALE_SECONDS)
    )
    for job in stale.defer("data", "rejects"):
        with transaction.atomic():
            if job.attempts >= MAX_ATTEMPTS:
                error = (
                    f"Its worker stopped responding {job.attempts} times (no heartbeat since "
                    f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC). {_stored_so_far(job)}"
                )
                updated = _fail(stale, job, now, error)
            else:
                updated = stale.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
                if updated:
                    transaction.on_commit(partial(run_import.enqueue, str(job.pk)))
        reaped += updated
    return reaped


def import_jobs_prune(*, now: datetime | None = None) -> int:
    """Delete the rejects of imports that ended more than IMPORT_REJECTS_DAYS ago (their counts stay),
    and any upload an ended job left behind; returns how many jobs lost their rejects."""
    now = now or timezone.now()
    ended = ImportJob.objects.filter(status__in=[ImportJob.Status.DONE, ImportJob.Status.FAILED])
    ImportChunk.objects.filter(job__in=ended).delete()
    old = ended.filter(finished_at__lt=now - timedelta(days=settings.IMPORT_REJECTS_DAYS), rejects_pruned_at=None)
    return int(old.update(rejects=None, data=None, rejects_pruned_at=now))


class _ChunkWriter(io.RawIOBase):
    """Where the compressed upload goes: a new ImportChunk row each CHUNK_BYTES."""

    def __init__(self, job: ImportJob) -> None:
        self.job, self.index, self.pending, self.total = job, 0, bytearray(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # io's ReadableBuffer
        self.pending += data
        while len(self.pending) >= ImportChunk.CHUNK_BYTES:
            self._store(bytes(self.pending[: ImportChunk.CHUNK_BYTES]))
            del self.pending[: ImportChunk.CHUNK_BYTES]
        return len(data)

    def finish(self) -> int:
        if self.pending:
            self._store(bytes(self.pending))
            self.pending.clear()
        return self.total

    def _store(self, data: bytes) -> None:
        ImportChunk.objects.create(job=self.job, index=self.index, data=data)
        self.index += 1
        self.total += len(data)


def _store_upload(job: ImportJob, upload: UploadedFile) -> int:
    """The upload, gzip-compressed (as it came, if it already is: its expanded size is checked as the
    job reads it), into the job's chunks a megabyte at a time; returns the stored size."""
    head = upload.read(2)
    upload.seek(0)
    sink = _ChunkWriter(job)
    if head == b"\x1f\x8b":
        shutil.copyfileobj(upload, sink, length=ImportChunk.CHUNK_BYTES)
    else:
        with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0) as archive:
            shutil.copyfileobj(upload, archive, length=ImportChunk.CHUNK_BYTES)
    return sink.finish()


class ImportQuotaError(ApplicationError):
    code = "import_quota"
    status = 429


def import_job_create(*, upload: UploadedFile, options: Mapping[str, str | None], user: Principal | None) -> ImportJob:
    """Store the upload (compressed, in chunks) and queue its import; a user who imported
    IMPORT_MAX_ROWS_PER_DAY rows in the last 24 hours is refused."""
    creator = user_or_none(user)
    if _rows_today(creator.pk if creator is not None else None) >= settings.IMPORT_MAX_ROWS_PER_DAY:
        raise ImportQuotaError(
            f"You imported {settings.IMPORT_MAX_ROWS_PER_DAY} rows in the last 24 hours, the most a day "
            "allows (IMPORT_MAX_ROWS_PER_DAY); try again later.",
            retry_after=3600,
        )
    job = ImportJob.objects.create(created_by=creator, filename=(upload.name or "upload.csv")[:255], options=options)
    try:
        job.bytes_total = _store_upload(job, upload)
    except BaseException:  # nothing half-stored: no job without its whole upload
        job.delete()
        raise
    job.save(update_fields=["bytes_total"])
    run_import.enqueue(str(job.pk))  # queued only once its whole upload is stored
    return job

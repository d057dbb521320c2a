"""Background CSV imports on Django's Tasks API (the django-tasks backport, database backend).

Start workers with ``python manage.py db_worker``; any number of them, on any machine sharing the
database, take jobs from the same queue (the file itself is stored in the database too).
"""

from __future__ import annotations

import gzip
import io
import tempfile
from pathlib import Path

from django.utils import timezone
from django_tasks import task

from predictions.selectors import ModelNotFound, loaded_model_get
from records.backfill import BackfillError, BackfillOptions, BackfillSummary, backfill_csv
from records.models import ImportJob


@task()
def run_import(job_id: str) -> str:
    job = ImportJob.objects.get(pk=job_id)
    job.status = ImportJob.Status.RUNNING
    job.started_at = timezone.now()
    job.save(update_fields=["status", "started_at"])
    options = job.options
    rejects = io.StringIO()
    try:
        model_id = f"{options['model']}@{options['version']}" if options.get("version") else None
        model = loaded_model_get(name=options["model"], model_id=model_id)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload.csv.gz"
            path.write_bytes(bytes(job.data))

            def progress(summary: BackfillSummary) -> None:
                ImportJob.objects.filter(pk=job.pk).update(
                    total_rows=summary.total_rows,
                    processed_rows=summary.processed_rows,
                    inserted_rows=summary.inserted_rows,
                    skipped_rows=summary.skipped_rows,
                    rejected_rows=summary.rejected_rows,
                    ignored_columns=summary.ignored_columns,
                )

            summary = backfill_csv(
                path=path,
                model=model,
                options=BackfillOptions(
                    timestamp_column=options.get("timestamp_column") or None,
                    outcome_column=options.get("outcome_column") or None,
                    outcome_positive=options.get("outcome_positive") or None,
                    batch_size=int(options.get("batch_size") or 500),
                    request_id=f"import:{job.pk}",
                ),
                rejects=rejects,
                progress=progress,
            )
        progress(summary)
        job.refresh_from_db()
        job.status = ImportJob.Status.DONE
        if summary.rejected_rows:
            job.rejects = gzip.compress(rejects.getvalue().encode())
    except (BackfillError, ModelNotFound) as exc:
        job.status = ImportJob.Status.FAILED
        job.error = str(exc)
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "rejects", "finished_at"])
    return job.status

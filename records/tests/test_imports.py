"""Import jobs always end (done or failed, with a reason), and their rejects are safe to open."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from records import backfill, tasks
from records.models import ImportJob, Record


def _job(frame_or_bytes, *, filename="history.csv", user=None, **options) -> ImportJob:
    """A job made as the import page makes it: the upload stored compressed, in chunks."""
    data = frame_or_bytes if isinstance(frame_or_bytes, bytes) else frame_or_bytes.to_csv(index=False).encode()
    upload = SimpleUploadedFile(filename, data)
    return tasks.import_job_create(upload=upload, options={"model": "credit", **options}, user=user)


def _run(job: ImportJob) -> ImportJob:
    tasks.run_import.call(str(job.pk))
    job.refresh_from_db()
    return job


def _rejects(job: ImportJob) -> list[dict[str, str]]:
    assert job.rejects is not None
    return list(csv.DictReader(io.StringIO(gzip.decompress(bytes(job.rejects)).decode())))


@pytest.fixture
def rows(german_rows):
    return german_rows.head(12).copy()


def test_latin_1_bytes_reject_their_rows_and_the_job_ends(demo_model, embedder, rows):
    text = rows.assign(note="").to_csv(index=False).splitlines()
    text[3] = text[3] + "Müller"  # the note of the third row
    job = _run(_job(("\n".join(text) + "\n").encode("latin-1")))
    assert job.status == "done", job.error
    assert (job.inserted_rows, job.rejected_rows) == (11, 1)
    [rejected] = _rejects(job)
    assert "not UTF-8" in rejected["reason"]


def test_an_impossible_date_is_a_rejected_row(demo_model, embedder, rows):
    frame = rows.assign(decided_at=["2024-02-01"] * 11 + ["2024-02-30"])
    job = _run(_job(frame, timestamp_column="decided_at"))
    assert job.status == "done" and job.rejected_rows == 1 and job.inserted_rows == 11
    assert "2024-02-30" in _rejects(job)[0]["reason"]


def test_a_nul_byte_in_the_header_fails_the_job_with_a_reason(demo_model, embedder, rows):
    data = rows.to_csv(index=False).encode().replace(b"purpose", b"purp\x00ose", 1)
    job = _run(_job(data))
    assert job.status == "failed" and "NUL" in job.error
    assert job.finished_at is not None and Record.objects.count() == 0


def test_a_nul_byte_in_a_cell_rejects_only_its_row(demo_model, embedder, rows):
    frame = rows.astype({"purpose": object})
    frame.loc[2, "purpose"] = "car\x00"
    job = _run(_job(frame))
    assert job.status == "done" and (job.inserted_rows, job.rejected_rows) == (11, 1)
    assert "NUL" in _rejects(job)[0]["reason"]


def test_formulas_in_rejected_cells_are_escaped(demo_model, embedder, rows):
    frame = rows.astype({"purpose": object})
    frame.loc[0, "purpose"] = '=HYPERLINK("http://evil.example","x")'
    frame.loc[1, "purpose"] = "@SUM(A1)"
    job = _run(_job(frame))
    rejected = _rejects(job)
    assert [r["purpose"] for r in rejected] == ['\'=HYPERLINK("http://evil.example","x")', "'@SUM(A1)"]
    assert all(not r["reason"].startswith(backfill.FORMULA_PREFIXES) for r in rejected)


def test_a_gzip_that_expands_too_far_fails_keeping_what_was_stored(demo_model, embedder, german_rows, settings):
    frame = german_rows.head(3000 // 3)
    settings.IMPORT_MAX_EXPANDED_BYTES = len(frame.head(700).to_csv(index=False).encode())
    job = ImportJob.objects.create(
        filename="bomb.csv.gz", data=gzip.compress(frame.to_csv(index=False).encode()), options={"model": "credit"}
    )
    job = _run(job)
    assert job.status == "failed"
    assert "IMPORT_MAX_EXPANDED_BYTES" in job.error
    assert f"{job.inserted_rows} were stored" in job.error
    assert Record.objects.count() == job.inserted_rows


def test_any_error_fails_the_job_and_keeps_committed_rows_and_rejects(demo_model, embedder, german_rows, monkeypatch):
    import pandas as pd

    frame = pd.concat([german_rows, german_rows], ignore_index=True).head(1500).astype({"purpose": object})
    frame.loc[3, "purpose"] = "yacht"
    store = backfill._store
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return store(*args, **kwargs)

    monkeypatch.setattr(backfill, "_store", flaky)
    job = _run(_job(frame))
    assert job.status == "failed" and job.finished_at is not None
    assert "RuntimeError: disk on fire" in job.error and "999 were stored" in job.error
    assert Record.objects.count() == 999
    assert [r["purpose"] for r in _rejects(job)] == ["yacht"]


def test_the_download_name_is_sanitised(client, staff_user, demo_model, embedder, rows):
    frame = rows.astype({"purpose": object})
    frame.loc[0, "purpose"] = "yacht"
    job = _run(_job(frame, filename='evil"\r\nSet-Cookie: x=1;.csv'))
    client.force_login(staff_user)
    response = client.get(f"/records/import/{job.pk}/rejects.csv")
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and "\r" not in disposition and "\n" not in disposition
    assert 'filename="evil_Set-Cookie_ x_1_.rejects.csv"' in disposition


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_died_is_queued_again_then_finishes(demo_model, embedder, rows):
    job = _job(rows)
    stale = timezone.now() - timedelta(seconds=tasks.STALE_SECONDS + 5)
    ImportJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=stale, attempts=1)
    ImportJob.objects.create(  # a live one is left alone
        filename="live.csv", data=b"", options={}, status="running", heartbeat_at=timezone.now(), attempts=1
    )
    assert tasks.import_jobs_reap() == 1
    job.refresh_from_db()
    assert job.status == "queued"
    assert DBTaskResult.objects.filter(args_kwargs__args=[str(job.pk)]).exists()
    from django.core.management import call_command

    call_command("run_worker", batch=True, no_startup_delay=True, interval=0.1)
    job.refresh_from_db()
    assert job.status == "done" and job.inserted_rows == 12 and job.attempts == 2


@pytest.mark.django_db
def test_a_job_that_keeps_losing_its_worker_is_failed_with_a_reason(demo_model):
    stale = timezone.now() - timedelta(minutes=5)
    job = ImportJob.objects.create(
        filename="h.csv", data=b"", options={}, status="running", heartbeat_at=stale, attempts=tasks.MAX_ATTEMPTS,
        inserted_rows=40,
    )  # fmt: skip
    assert tasks.import_jobs_reap() == 1
    job.refresh_from_db()
    assert job.status == "failed" and "stopped responding" in job.error and "40 rows were stored" in job.error
    assert job.finished_at is not None


def test_the_progress_page_reaps_a_dead_job(client, staff_user, demo_model):
    stale = timezone.now() - timedelta(minutes=5)
    job = ImportJob.objects.create(
        filename="h.csv", data=b"", options={}, status="running", heartbeat_at=stale, attempts=tasks.MAX_ATTEMPTS
    )
    client.force_login(staff_user)
    page = client.get(f"/records/import/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "failed" in page and "every 1s" not in page


def test_one_enormous_line_fails_the_job_without_holding_it_in_memory(demo_model, embedder, rows):
    import tracemalloc

    header = rows.to_csv(index=False).splitlines()[0]
    bomb = gzip.compress((header + "\n" + "x" * (64 << 20) + "\n").encode())  # 64 MiB in one line, 64 KB stored
    job = _job(bomb, filename="line.csv.gz")
    tracemalloc.start()
    try:
        job = _run(job)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert job.status == "failed" and "line 2 is longer than 65536 characters (IMPORT_MAX_LINE_LENGTH)" in job.error
    assert peak < 16 << 20, peak  # the line is never read whole (it used to cost twice its size)


def test_a_header_of_too_many_columns_fails_and_stores_none_of_it(demo_model, embedder, rows):
    frame = rows.assign(**{f"extra_{i}": "" for i in range(600)})
    job = _run(_job(frame))
    assert job.status == "failed" and "the header has 621 columns; at most 500 (IMPORT_MAX_COLUMNS)." in job.error
    assert job.ignored_columns == [] and Record.objects.count() == 0


def test_the_row_cap_of_one_import_fails_it_with_the_reason(demo_model, embedder, rows, settings):
    settings.IMPORT_MAX_ROWS = 5
    job = _run(_job(rows))
    assert job.status == "failed" and "more than 5 rows" in job.error and Record.objects.count() == 0


def test_the_daily_row_cap_of_a_user_counts_their_earlier_imports(demo_model, embedder, rows, staff_user, settings):
    settings.IMPORT_MAX_ROWS_PER_DAY = 20
    assert _run(_job(rows, user=staff_user)).inserted_rows == 12
    second = _run(_job(rows, user=staff_user))  # 8 rows of the day are left
    assert second.status == "failed" and "more than 8 rows" in second.error
    settings.IMPORT_MAX_ROWS_PER_DAY = 12
    with pytest.raises(tasks.ImportQuotaError, match="12 rows in the last 24 hours"):
        _job(rows, user=staff_user)
    assert _run(_job(rows)).status == "done"  # the cap is per user: a job of nobody's is not refused


def test_an_import_past_its_deadline_fails_with_the_reason(demo_model, embedder, rows, settings):
    settings.IMPORT_MAX_SECONDS = 60
    job = _job(rows)
    ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(hours=1))  # a resumed job
    job = _run(job)
    assert job.status == "failed" and "ran past its deadline (IMPORT_MAX_SECONDS)" in job.error


def test_the_watchdog_tells_a_hung_job_from_a_beating_one(demo_model, settings):
    now = timezone.now()
    running = {"filename": "h.csv", "options": {}, "status": "running", "heartbeat_at": now, "attempts": 1}
    hung = ImportJob.objects.create(**running, started_at=now, progressed_at=now - timedelta(minutes=11))
    overran = ImportJob.objects.create(**running, started_at=now - timedelta(hours=5), progressed_at=now)
    working = ImportJob.objects.create(**running, started_at=now - timedelta(minutes=30), progressed_at=now)
    assert tasks.import_jobs_reap(now=now) == 2
    for job in (hung, overran, working):
        job.refresh_from_db()
    assert hung.status == "failed" and "stored nothing for 600 s although its worker was alive" in hung.error
    assert overran.status == "failed" and "ran past its deadline of 14400 s" in overran.error
    assert working.status == "running"


def test_the_upload_is_deleted_when_the_job_ends_and_the_rejects_after_some_days(
    client, staff_user, demo_model, embedder, rows
):
    from records.models import ImportChunk

    frame = rows.astype({"purpose": object})
    frame.loc[0, "purpose"] = "yacht"
    job = _job(frame)
    assert ImportChunk.objects.filter(job=job).count() == 1 and (job.bytes_total or 0) > 0
    job = _run(job)
    assert job.status == "done" and not ImportChunk.objects.filter(job=job).exists() and job.data is None
    client.force_login(staff_user)
    assert client.get(f"/records/import/{job.pk}/rejects.csv").status_code == 200
    assert tasks.import_jobs_prune(now=timezone.now() + timedelta(days=6)) == 0  # kept IMPORT_REJECTS_DAYS (7)
    assert tasks.import_jobs_prune(now=timezone.now() + timedelta(days=8)) == 1
    job.refresh_from_db()
    assert job.rejects is None and job.rejected_rows == 1 and job.rejects_pruned
    assert client.get(f"/records/import/{job.pk}/rejects.csv").status_code == 404
    assert "deleted after 7 days" in client.get(f"/records/import/{job.pk}/").content.decode()


def test_a_large_upload_is_stored_in_chunks_and_read_back_whole(demo_model, embedder, german_rows):
    import os

    from records.models import ImportChunk

    noise = os.urandom(3 << 20).hex()  # does not compress: more than one chunk
    frame = german_rows.head(200).assign(note=[noise[i * 30000 : (i + 1) * 30000] for i in range(200)])
    job = _job(frame)
    assert ImportChunk.objects.filter(job=job).count() >= 3
    job = _run(job)
    assert job.status == "done" and job.inserted_rows == 200 and job.bytes_read == job.bytes_total


def test_the_scheduler_prunes_old_rejects(demo_model, embedder, rows):
    from django.core.management import call_command

    frame = rows.astype({"purpose": object})
    frame.loc[0, "purpose"] = "yacht"
    job = _run(_job(frame))
    ImportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=30))
    call_command("monitoring_scheduler", every=0)
    job.refresh_from_db()
    assert job.rejects is None and job.rejects_pruned

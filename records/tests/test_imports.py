"""Import jobs always end (done or failed, with a reason), and their rejects are safe to open."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from records import backfill, tasks
from records.models import ImportJob, Record


def _job(frame_or_bytes, *, filename="history.csv", **options) -> ImportJob:
    data = frame_or_bytes if isinstance(frame_or_bytes, bytes) else frame_or_bytes.to_csv(index=False).encode()
    return ImportJob.objects.create(filename=filename, data=gzip.compress(data), options={"model": "credit", **options})


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

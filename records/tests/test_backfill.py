import csv
import gzip
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from records.models import ImportJob, Record


def _write(path: Path, frame, *, bom=False, crlf=False, gz=False) -> Path:
    text = frame.to_csv(index=False, lineterminator="\r\n" if crlf else "\n")
    data = (("\ufeff" if bom else "") + text).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def rows(german_rows):
    return german_rows.head(40).copy()


def test_rejects_go_to_a_file_with_their_reasons(tmp_path, demo_model, embedder, rows, capsys):
    bad = rows.copy()
    bad = bad.astype({"age_in_years": object, "credit_amount": object})
    bad.loc[3, "age_in_years"] = "old"
    bad.loc[7, "purpose"] = "yacht"
    bad.loc[9, "credit_amount"] = ""
    source = _write(tmp_path / "loans.csv", bad)
    rejects = tmp_path / "bad.csv"
    call_command("backfill_records", str(source), model="credit", rejects=rejects, no_progress=True)
    out = capsys.readouterr().out
    assert "inserted 37" in out and "rejected 3" in out
    assert Record.objects.count() == 37
    with rejects.open() as handle:
        rejected = list(csv.DictReader(handle))
    assert len(rejected) == 3
    assert rejected[0]["reason"] == "age_in_years: Expected an integer, got 'old'."
    assert rejected[2]["reason"] == "credit_amount: This feature is required."
    assert rejected[0]["age_in_years"] == "old" and rejected[2]["credit_amount"] == ""
    assert rejected[1]["reason"].startswith("purpose: Unknown category 'yacht'")


def test_a_second_run_inserts_nothing(tmp_path, demo_model, embedder, rows, capsys):
    source = _write(tmp_path / "loans.csv", rows)
    call_command("backfill_records", str(source), model="credit", no_progress=True)
    call_command("backfill_records", str(source), model="credit", no_progress=True, batch_size=7)
    out = capsys.readouterr().out
    assert "inserted 40" in out and "inserted 0, already stored 40" in out
    assert Record.objects.count() == 40


def test_timestamps_and_outcomes_come_from_their_columns(tmp_path, demo_model, embedder, rows):
    frame = rows.head(4).copy()
    frame["decided_at"] = ["2024-01-02T03:04:05Z", "2024-02-03", "2024-03-04 10:00:00+02:00", "2024-04-05T00:00:00"]
    source = _write(tmp_path / "loans.csv", frame)
    call_command(
        "backfill_records", str(source), model="credit", timestamp_column="decided_at",
        outcome_column="creditability", outcome_positive="bad", outcome_negative="good", no_progress=True,
    )  # fmt: skip
    stored = {r.timestamp.isoformat(): r for r in Record.objects.all()}
    assert set(stored) == {
        "2024-01-02T03:04:05+00:00",
        "2024-02-03T00:00:00+00:00",
        "2024-03-04T08:00:00+00:00",
        "2024-04-05T00:00:00+00:00",
    }
    expected = [value == "bad" for value in frame["creditability"]]
    assert sorted(bool(r.outcome) for r in stored.values()) == sorted(expected)
    assert all(r.outcome is not None for r in stored.values())
    assert all(r.outcome_observed_at is not None for r in stored.values())
    for record in stored.values():  # the COPY path stores the contributions in schema order too
        by_feature = {d["feature"]: d["contribution"] for d in record.drivers}
        assert record.contributions == [by_feature[spec["name"]] for spec in demo_model.feature_schema]


def test_a_bom_quoted_commas_crlf_and_gzip_are_read(tmp_path, demo_model, embedder, rows, capsys):
    # the German credit categories contain commas ("yes, registered under ..."), so they are quoted
    assert rows["telephone"].str.contains(",").any()
    source = _write(tmp_path / "loans.csv.gz", rows, bom=True, crlf=True, gz=True)
    call_command("backfill_records", str(source), model="credit", no_progress=True)
    assert "inserted 40" in capsys.readouterr().out
    phones = set(Record.objects.values_list("features_json__telephone", flat=True))
    assert "yes, registered under the customers name" in phones


def test_columns_outside_the_schema_are_ignored_and_named_once(tmp_path, demo_model, embedder, rows, capsys):
    source = _write(tmp_path / "loans.csv", rows.assign(branch="north"))
    call_command("backfill_records", str(source), model="credit", no_progress=True)
    out = capsys.readouterr().out
    assert out.count("ignored columns outside the schema: creditability, branch") == 1


def test_an_empty_file_is_a_clear_error(tmp_path, demo_model):
    source = tmp_path / "empty.csv"
    source.write_text("")
    with pytest.raises(CommandError, match="empty"):
        call_command("backfill_records", str(source), model="credit", no_progress=True)
    assert Record.objects.count() == 0


def test_a_line_past_the_length_limit_is_a_clear_error_not_a_memory_spike(tmp_path, demo_model, rows, settings):
    settings.IMPORT_MAX_LINE_LENGTH = 2000
    source = tmp_path / "long.csv"
    source.write_text(rows.to_csv(index=False) + "x" * 5000 + "\n")
    with pytest.raises(CommandError, match="line 42 is longer than 2000 characters"):
        call_command("backfill_records", str(source), model="credit", no_progress=True)


def test_a_header_missing_a_required_feature_stores_nothing(tmp_path, demo_model, rows):
    source = _write(tmp_path / "loans.csv", rows.drop(columns=["purpose", "housing"]))
    with pytest.raises(CommandError, match="lacks required feature column\\(s\\): purpose, housing"):
        call_command("backfill_records", str(source), model="credit", no_progress=True)
    assert Record.objects.count() == 0
    assert not (tmp_path / "loans.csv.rejects.csv").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow  # kills a backfill subprocess mid-run, then resumes it
def test_a_killed_run_resumes_with_the_count_exact(tmp_path, demo_model, embedder, german_rows, test_database_url):
    frame = german_rows.head(240)
    source = _write(tmp_path / "loans.csv", frame)
    env = {**os.environ, "DATABASE_URL": test_database_url, "DEBUG": "1", "PRELOAD_MODELS": "0"}
    command = [sys.executable, "manage.py", "backfill_records", str(source), "--model", "credit", "--batch-size", "20",
               "--no-progress"]  # fmt: skip
    first = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while Record.objects.count() < 40 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    partial = Record.objects.count()
    assert 0 < partial < 240, "the run must be killed mid-file"
    second = subprocess.run(
        command, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"inserted {240 - partial}, already stored {partial}" in second.stdout
    assert Record.objects.count() == 240
    assert Record.objects.values("fingerprint").distinct().count() == 240


@pytest.mark.django_db(transaction=True)
def test_the_upload_page_runs_through_a_worker_with_visible_progress(
    client, staff_user, demo_model, embedder, german_rows
):
    client.force_login(staff_user)
    page = client.get("/records/import/")
    assert page.status_code == 200 and 'type="file"' in page.content.decode()
    frame = german_rows.head(30).copy()
    frame["age_in_years"] = frame["age_in_years"].astype(object)
    frame.loc[5, "age_in_years"] = "unknown"
    upload = io.BytesIO(frame.to_csv(index=False).encode())
    upload.name = "history.csv"
    response = client.post("/records/import/", {"file": upload, "model": "credit", "outcome_column": "creditability",
                                                "outcome_positive": "bad", "outcome_negative": "good"})  # fmt: skip
    assert response.status_code == 302
    job = ImportJob.objects.get()
    detail_url = response["Location"]
    queued = client.get(detail_url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in queued and "queued" in queued  # polls while it runs
    call_command("run_worker", batch=True, no_startup_delay=True, interval=0.1)
    job.refresh_from_db()
    assert job.status == "done" and job.processed_rows == 30 and job.inserted_rows == 29 and job.rejected_rows == 1
    done = client.get(detail_url, HTTP_HX_REQUEST="true").content.decode()
    assert "every 1s" not in done and ">29<" in done and "rejects.csv" in done
    rejects = client.get(f"{detail_url}rejects.csv")
    assert rejects["Content-Type"].startswith("text/csv")
    lines = b"".join(rejects.streaming_content).decode().splitlines()
    assert lines[0].endswith(",reason") and "Expected an integer, got 'unknown'." in lines[1]
    assert Record.objects.filter(outcome__isnull=False).count() == 29


def test_the_import_pages_refuse_non_staff(client, api_user, db):
    assert client.get("/records/import/").status_code == 302
    client.force_login(api_user)
    assert client.get("/records/import/").status_code == 403  # not a redirect to a login that sends it back


@pytest.mark.parametrize(
    ("filename", "extra", "message"),
    [
        ("history.txt", {}, "Upload a .csv or .csv.gz file."),
        ("history.csv", {"outcome_column": "creditability"}, "Give the outcome column with both its values"),
        (
            "history.csv",
            {"outcome_column": "creditability", "outcome_positive": "bad", "outcome_negative": " BAD"},
            "must differ",
        ),
        ("history.csv", {"model": "fraud"}, "Select a valid choice."),
    ],
)
def test_a_bad_upload_is_refused_with_its_error_and_nothing_queued(
    client, staff_user, demo_model, filename, extra, message
):
    client.force_login(staff_user)
    upload = io.BytesIO(b"a,b\n1,2\n")
    upload.name = filename
    response = client.post("/records/import/", {"file": upload, "model": "credit", **extra})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (["/nonexistent.csv"], {"model": "credit"}, "file not found"),
        ([], {"model": "credit", "outcome_column": "creditability"}, "go together"),
        ([], {"model": "credit", "outcome_column": "c", "outcome_positive": "y", "outcome_negative": "Y"}, "differ"),
        ([], {"model": "credit", "batch_size": 0}, "--batch-size"),
        ([], {"model": "fraud"}, "does not exist"),
        ([], {"model": "credit", "version": 9}, "credit@9"),
        ([], {"model": "credit", "timestamp_column": "decided_at"}, "'decided_at' is not in the header"),
    ],
)
def test_bad_backfill_arguments_are_one_line_errors(tmp_path, demo_model, rows, args, options, message):
    source = _write(tmp_path / "loans.csv", rows.head(3))
    with pytest.raises(CommandError, match=message):
        call_command("backfill_records", *(args or [str(source)]), no_progress=True, **options)
    assert Record.objects.count() == 0


def test_identical_rows_are_separate_records_and_a_rerun_adds_none(tmp_path, demo_model, embedder, rows, capsys):
    import pandas as pd

    frame = pd.concat([rows.head(3), rows.head(1), rows.head(1)], ignore_index=True)  # row 0 three times
    source = _write(tmp_path / "loans.csv", frame)
    call_command("backfill_records", str(source), model="credit", no_progress=True)
    call_command("backfill_records", str(source), model="credit", no_progress=True, batch_size=2)
    out = capsys.readouterr().out
    assert "inserted 5" in out and "inserted 0, already stored 5" in out
    assert Record.objects.count() == 5
    assert Record.objects.values("fingerprint").distinct().count() == 5


def test_an_id_column_is_the_rows_own_key(tmp_path, demo_model, embedder, rows, capsys):
    frame = rows.head(4).assign(application=["a-1", "a-2", "a-3", "a-1"])
    source = _write(tmp_path / "loans.csv", frame)
    call_command("backfill_records", str(source), model="credit", id_column="application", no_progress=True)
    out = capsys.readouterr().out
    assert "inserted 3" in out and "rejected 1" in out
    rejected = list(csv.DictReader((tmp_path / "loans.csv.rejects.csv").open()))
    assert "'a-1' appears earlier in this file" in rejected[0]["reason"]
    changed = frame.head(3).assign(duration_in_month=[7, 8, 9])  # same ids, other content: still the same rows
    call_command("backfill_records", str(_write(tmp_path / "again.csv", changed)), model="credit",
                 id_column="application", no_progress=True)  # fmt: skip
    assert "inserted 0, already stored 3" in capsys.readouterr().out


def test_an_outcome_that_is_neither_value_is_rejected_not_false(tmp_path, demo_model, embedder, rows, capsys):
    frame = rows.head(5).assign(creditability=["bad", " Bad ", "GOOD", "unknown", ""])
    source = _write(tmp_path / "loans.csv", frame)
    call_command("backfill_records", str(source), model="credit", outcome_column="creditability",
                 outcome_positive="bad", outcome_negative="good", no_progress=True)  # fmt: skip
    assert "inserted 4" in capsys.readouterr().out
    assert sorted(Record.objects.values_list("outcome", flat=True), key=str) == [False, None, True, True]
    rejected = list(csv.DictReader((tmp_path / "loans.csv.rejects.csv").open()))
    assert rejected[0]["reason"] == "creditability: 'unknown' is neither 'bad' nor 'good'."


def test_a_csv_backfill_accepts_the_boolean_words_the_api_accepts(tmp_path, demo_model, embedder, rows, capsys):
    source = _write(tmp_path / "loans.csv", rows.head(3).assign(foreign_worker=["yes", "No", "TRUE"]))
    call_command("backfill_records", str(source), model="credit", no_progress=True)
    assert "inserted 3" in capsys.readouterr().out
    stored = [r.protected["foreign_worker"] for r in Record.objects.order_by("fingerprint")]
    assert sorted(stored) == [False, True, True]


def test_a_backfill_stores_the_protected_columns_apart_and_decides(tmp_path, demo_model, embedder, rows, capsys):
    source = _write(tmp_path / "loans.csv", rows.head(40))
    call_command("backfill_records", str(source), model="credit", no_progress=True)
    out = capsys.readouterr().out
    assert "ignored columns outside the schema: creditability" in out and "foreign_worker" not in out
    records = list(Record.objects.all())
    assert len(records) == 40
    for record in records:
        assert set(record.protected) == {"personal_status_and_sex", "foreign_worker"}
        assert not set(record.features_json) & set(record.protected)
        assert record.decision in {"approve", "refer", "decline"}
        assert (record.decision == "approve") == (record.reasons == [])


def test_a_backfill_rejects_a_row_whose_protected_value_was_never_seen(tmp_path, demo_model, embedder, rows, capsys):
    frame = rows.head(2).copy()
    frame.loc[frame.index[1], "personal_status_and_sex"] = "unknown"
    call_command("backfill_records", str(_write(tmp_path / "loans.csv", frame)), model="credit", no_progress=True)
    assert Record.objects.count() == 1
    rejected = list(csv.DictReader((tmp_path / "loans.csv.rejects.csv").open()))
    assert rejected[0]["reason"].startswith("personal_status_and_sex: Unknown category 'unknown'")

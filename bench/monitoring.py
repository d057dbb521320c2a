"""Monitoring at scale: N records over 90 days, the fold, the reports and the page, and the same
drift report computed the common way (the window read into pandas, binned and compared there).

Usage: .venv/bin/python -m bench.monitoring [--records 1000000] [--first 100000] [--data-dir .data-bench-monitoring]

The records are German credit rows resampled with noise on the numbers, scored and explained by
the demo model, spread over the last 90 days, with a shift (larger amounts) in the last 30 and
outcomes (drawn from the score) for the records older than 45 days. No embeddings: monitoring does
not read them. Loaded by COPY in two steps: ``--first`` records, a full fold (its rate and peak
memory), then the rest, and the full fold again. Then: an incremental fold of 10,000 new records,
and p50s of the drift report (30 days), the realised-performance report (90 days), the monitoring
page (server-side, in process) and the pandas drift report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
_COLUMNS = (
    "id, timestamp, model_version_id, model_id, features_json, risk_score, risk_label, base_log_odds, drivers, "
    "contributions, request_id, outcome, outcome_changed_at, decision, protected"
)
_TYPES = ["uuid", "timestamptz", "int8", "varchar", "jsonb", "float8", "varchar", "float8", "jsonb", "float8[]",
          "varchar", "bool", "timestamptz", "varchar", "jsonb"]  # fmt: skip
# The fairness report as it was computed before the rollups: from the window's raw records.
_RAW_FAIRNESS_SQL = (
    "SELECT p.key, p.value, count(*), count(*) FILTER (WHERE r.decision = 'approve'), "
    "count(r.outcome), count(*) FILTER (WHERE r.outcome), "
    "count(*) FILTER (WHERE r.outcome AND r.decision <> 'approve'), "
    "count(*) FILTER (WHERE NOT r.outcome AND r.decision <> 'approve') "
    "FROM records_record r CROSS JOIN LATERAL jsonb_each_text(r.protected) AS p(key, value) "
    "WHERE r.model_version_id = %(v)s AND r.timestamp >= %(start)s::timestamp AT TIME ZONE 'UTC' "
    "AND r.timestamp < %(end)s::timestamp AT TIME ZONE 'UTC' AND r.decision <> '' "
    "AND p.key = ANY(%(names)s) GROUP BY 1, 2"
)


def _setup(data_dir: Path) -> None:
    os.environ["RISKENGINE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskengine.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("seed_demo", verbosity=0)


class _Generator:
    def __init__(self, model: Any, seed: int = 7) -> None:
        from predictions.ml.features import encode_frame
        from predictions.ml.training import read_training_csv

        self.model = model
        frame = read_training_csv(ROOT / "data" / "german_credit.csv")
        self.base = encode_frame(frame.drop(columns=["creditability"]), model.schema)
        self.groups = encode_frame(frame, model.protected)  # each row's protected attributes, as the demo
        self.rng = np.random.default_rng(seed)
        self.numeric = [j for j, s in enumerate(model.schema) if s.type in ("number", "integer")]
        self.amount = [s.name for s in model.schema].index("credit_amount")

    def copy(self, cursor: Any, size: int, *, now: datetime, days: float) -> None:
        """COPY ``size`` records with timestamps spread over the ``days`` days before ``now``."""
        from predictions.ml.features import decode_row

        picked = self.rng.integers(0, len(self.base), size)
        rows = self.base[picked].copy()
        groups = [decode_row(self.model.protected, self.groups[i]) for i in picked]
        ages = self.rng.uniform(0, days * 86_400, size)
        for j in self.numeric:
            spec = self.model.schema[j]
            values = rows[:, j] * self.rng.normal(1.0, 0.08, size)
            values = np.round(values) if spec.type == "integer" else values
            rows[:, j] = np.clip(values, spec.min, spec.max)
        recent = ages < 30 * 86_400
        rows[recent, self.amount] = np.minimum(rows[recent, self.amount] * 2, 40_000)
        dicts = [decode_row(self.model.schema, row) for row in rows]
        predictions = self.model.scorer.predict_encoded(rows, dicts)
        draws = self.rng.random(size)
        with cursor.copy(f"COPY records_record ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_TYPES)
            for i, p in enumerate(predictions):
                known = ages[i] > 45 * 86_400
                outcome = bool(draws[i] < p.risk_score) if known else None
                copy.write_row(
                    (uuid.uuid4(), now - timedelta(seconds=float(ages[i])), self.model.pk, self.model.model_id,
                     dicts[i], p.risk_score, p.risk_label, p.base_log_odds, p.drivers, p.contributions.tolist(),
                     "bench", outcome, now if known else None, p.decision, groups[i])
                )  # fmt: skip


def _load(generator: _Generator, n: int, *, now: datetime, days: float = 90, chunk: int = 50_000) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as django_cursor, django_cursor.connection.cursor() as cursor:
        for offset in range(0, n, chunk):
            generator.copy(cursor, min(chunk, n - offset), now=now, days=days)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE records_record")
    return time.perf_counter() - started


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


class _PeakPrivateMemory:
    """The peak private (anonymous) resident memory of a process, sampled every 20 ms: shared
    buffers the backend touches count in its RSS but are not its own memory."""

    def __init__(self, pid: int) -> None:
        self.path = Path(f"/proc/{pid}/status")
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for line in self.path.read_text().splitlines():
                if line.startswith("RssAnon"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))

    def __enter__(self) -> _PeakPrivateMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()


def _full_fold() -> tuple[float, int, int]:
    """A fold from scratch: (seconds, records folded, backend peak KiB); a fresh connection, so the
    backend's peak is this fold's."""
    from django.db import connection

    from monitoring.models import (
        BinDay,
        DayTotal,
        FairnessDay,
        FoldState,
        OutcomeDay,
        ScoreCellDay,
        ShapDay,
        VersionFold,
    )
    from monitoring.services.fold import monitoring_fold

    for model in (BinDay, ShapDay, DayTotal, OutcomeDay, ScoreCellDay, FairnessDay, VersionFold, FoldState):
        model.objects.all().delete()
    connection.close()
    with _PeakPrivateMemory(_backend_pid()) as backend, _PeakPrivateMemory(os.getpid()) as python:
        started = time.perf_counter()
        summary = monitoring_fold()
        seconds = time.perf_counter() - started
    print(f"    peak private memory during the fold: python {python.peak_kib / 1024:.0f} MiB", flush=True)
    return seconds, summary.records, backend.peak_kib


def _p50(fn: Callable[[], Any], runs: int = 20) -> float:
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _pandas_drift(version: Any, start: Any, end: Any) -> list[float]:
    """The common way: the window's features, score and label into pandas, binned by the profile
    and compared with PSI in memory."""
    import pandas as pd
    from django.db import connection

    from monitoring import stats

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT features_json, risk_score, risk_label FROM records_record WHERE model_version_id = %s "
            "AND timestamp >= %s AND timestamp < %s",
            [version.pk, start, end],
        )
        rows = cursor.fetchall()
    frame = pd.DataFrame([json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows])
    profile = version.reference_profile
    out = []
    for feature in profile["features"]:
        column = frame[feature["name"]]
        size = len(feature["counts"])
        if feature["type"] in ("number", "integer"):
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            bins = np.searchsorted(np.asarray(feature["edges"][1:-1]), values, side="right")
            bins = np.where(np.isnan(values), size - 1, bins)
        else:
            names = feature["choices"] if feature["type"] == "category" else [False, True]
            codes = pd.Categorical(column, categories=names).codes
            bins = np.where(column.isna(), size - 1, np.where(codes < 0, size - 2, codes))
        out.append(stats.psi(np.bincount(bins, minlength=size)[:size], feature["counts"]))
    scores = np.array([r[1] for r in rows])
    score_bins = np.searchsorted(np.asarray(profile["score"]["edges"][1:-1]), scores, side="right")
    out.append(
        stats.psi(np.bincount(score_bins, minlength=len(profile["score"]["counts"])), profile["score"]["counts"])
    )
    labels = pd.Categorical([r[2] for r in rows], categories=profile["label"]["labels"]).codes
    out.append(stats.psi(np.bincount(labels, minlength=len(profile["label"]["counts"])), profile["label"]["counts"]))
    return out


def _raw_fairness(version: Any, start: Any, end: Any) -> dict[tuple[str, str], list[int]]:
    """Each (attribute, group)'s counts, read from the window's records (the report before rollups)."""
    from django.db import connection

    names = [spec["name"] for spec in version.protected_schema]
    with connection.cursor() as cursor:
        cursor.execute(_RAW_FAIRNESS_SQL, {"v": version.pk, "start": start, "end": end, "names": names})
        return {(key, value): [int(n) for n in numbers] for key, value, *numbers in cursor.fetchall()}


def _fairness(version: Any, start: Any, end: Any) -> None:
    from dataclasses import astuple

    from monitoring.selectors.outcomes import fairness_report

    report = fairness_report(model_version=version, start=start, end=end)
    ours = {(a.attribute, g.value): list(astuple(g.counts)) for a in report.attributes for g in a.groups}
    raw = _raw_fairness(version, start, end)
    same = ours == raw
    rollups = _p50(lambda: fairness_report(model_version=version, start=start, end=end))
    records = _p50(lambda: _raw_fairness(version, start, end), runs=5)
    print(f"  fairness report, 30 days, {report.decided:,} decided records: p50 {rollups:.1f} ms from the rollups, "
          f"{records:.0f} ms from the records ({records / rollups:.0f}x); same counts: {same}")  # fmt: skip


def _reports(version: Any, now: datetime) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from monitoring.selectors.drift import drift_report
    from monitoring.selectors.outcomes import performance_report

    tomorrow = now.date() + timedelta(days=1)
    start30, start90 = tomorrow - timedelta(days=30), tomorrow - timedelta(days=90)
    ours = drift_report(model_version=version, start=start30, end=tomorrow)
    theirs = _pandas_drift(version, start30, tomorrow)
    psis = [c.psi for c in ours.features] + [ours.score.psi, ours.label.psi]  # type: ignore[union-attr]  # always set
    print(f"  drift report over {ours.records:,} records: max |PSI ours - PSI pandas| = "
          f"{max(abs(a - b) for a, b in zip(psis, theirs, strict=True)):.2e}")  # fmt: skip
    drift = _p50(lambda: drift_report(model_version=version, start=start30, end=tomorrow))
    pandas = _p50(lambda: _pandas_drift(version, start30, tomorrow), runs=5)
    performance = _p50(lambda: performance_report(model_version=version, start=start90, end=tomorrow))
    _fairness(version, start30, tomorrow)
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = Client()
    client.force_login(staff)
    page = _p50(lambda: client.get("/monitoring/credit/", HTTP_HOST="localhost"))
    overview = _p50(lambda: client.get("/monitoring/", HTTP_HOST="localhost"))
    print(f"  drift report, 30 days, p50 {drift:.1f} ms (pandas, the same report: {pandas:.0f} ms, "
          f"{pandas / drift:.0f}x)")  # fmt: skip
    print(f"  realised performance, 90 days, p50 {performance:.1f} ms")
    print(f"  /monitoring/credit/ p50 {page:.1f} ms; /monitoring/ p50 {overview:.1f} ms (server-side)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--first", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data-bench-monitoring")
    parser.add_argument("--reports-only", action="store_true", help="keep the loaded records; time the reports")
    args = parser.parse_args()
    _setup(args.data_dir)
    from django.db import connection

    from monitoring.services import fold
    from predictions.selectors import loaded_model_get
    from predictions.services import demo_model_ensure

    fold.SAFETY_SECONDS = 0  # the bench's writes are all committed before it folds
    version, _ = demo_model_ensure()
    version.refresh_from_db()
    generator = _Generator(loaded_model_get(name="credit"))
    now = datetime.now(tz=UTC)
    if args.reports_only:
        _reports(version, now)
        return
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE records_record CASCADE")
    for step in (args.first, args.records - args.first):
        print(f"loading {step:,} records ... {step / _load(generator, step, now=now):,.0f} records/s", flush=True)
        seconds, folded, peak = _full_fold()
        print(f"  full fold of {folded:,} records: {seconds:.2f} s, {folded / seconds:,.0f} records/s, "
              f"PostgreSQL backend {peak / 1024:.0f} MiB", flush=True)  # fmt: skip
    _load(generator, 10_000, now=datetime.now(tz=UTC), days=0.001)
    started = time.perf_counter()
    summary = fold.monitoring_fold()
    print(f"  incremental fold of {summary.records:,} new records: {time.perf_counter() - started:.3f} s")
    _reports(version, now)


if __name__ == "__main__":
    main()

"""Property-based fuzzing of the whole API against its own OpenAPI schema (schemathesis).

The schemathesis CLI runs against a live server on the test database, with the demo model
registered and a valid JWT, with every check: no 5xx, every status code, content type, header and
body as documented, invalid data rejected, valid data accepted, authentication enforced,
unsupported methods refused. It is bounded by FUZZ_EXAMPLES per operation and FUZZ_SECONDS in all,
and seeded so that `make test` is reproducible.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS", "150"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20261127"))

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]


def _schemathesis(live_server, user, monkeypatch, *, report_name: str, seconds: int, extra: list[str]):
    from django.conf import settings
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.throttling import _DatabaseRateThrottle

    # The rate limits are tested elsewhere; here they would turn most requests into 429s.
    monkeypatch.setattr(_DatabaseRateThrottle, "THROTTLE_RATES", {"user": "1000000/min", "anon": "1000000/min"})
    token = AccessToken.for_user(user)
    st = Path(sys.executable).parent / "st"
    run = subprocess.run(
        [
            str(st),
            "--config-file",
            str(Path(settings.BASE_DIR) / "schemathesis.toml"),
            "run",
            f"{live_server.url}/api/schema/",
            "--checks",
            "all",
            "--max-examples",
            str(FUZZ_EXAMPLES),
            "--max-time",
            str(seconds),
            "--seed",
            str(FUZZ_SEED),
            "--workers",
            "1",
            "--header",
            f"Authorization: Bearer {token}",
            "--request-timeout",
            "30",
            "--warnings",
            "off",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    report = Path(settings.BASE_DIR) / "test-artifacts" / report_name
    report.parent.mkdir(exist_ok=True)
    report.write_text(run.stdout + run.stderr)
    assert run.returncode == 0, f"schemathesis found failures; the full report is in {report}\n" + run.stdout[-20000:]


def test_the_api_keeps_to_its_schema(live_server, demo_model, embedder, api_user, monkeypatch):
    _schemathesis(live_server, api_user, monkeypatch, report_name="schemathesis.txt", seconds=FUZZ_SECONDS, extra=[])


def test_the_monitoring_api_keeps_to_its_schema_for_staff(live_server, demo_model, staff_user, monkeypatch):
    """The monitoring operations answer only staff: fuzzed again with a staff token, over folded
    records with outcomes and an alert."""
    from datetime import timedelta

    import numpy as np

    from monitoring.services.alerts import alerts_evaluate
    from monitoring.services.fold import monitoring_fold
    from monitoring.tests.conftest import START, load_rows, store

    rng = np.random.default_rng(1)
    rows = load_rows()
    store(rows[:600], days=rng.integers(0, 10, 600), outcomes=[bool(x) for x in rng.integers(0, 2, 600)], rng=rng)
    monitoring_fold()
    alerts_evaluate(today=(START + timedelta(days=9)).date())
    _schemathesis(
        live_server,
        staff_user,
        monkeypatch,
        report_name="schemathesis-monitoring.txt",
        seconds=FUZZ_SECONDS // 2,
        extra=["--include-path-regex", "^/api/monitoring/"],
    )

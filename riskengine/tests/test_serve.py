"""`make serve`, production without Docker: DEBUG off whatever the environment says, a one-line refusal
without real secrets, and HTML pages that render (bootstrap collects the static files)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from riskengine.tests.test_proxy import _data_dir, _free_port, _get

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("SECRET_KEY", "JWT_SIGNING_KEY", "DEBUG", "RISKENGINE_ENV_FILE", "DATABASE_REPLICA_URL")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_make_serve_refuses_without_secrets_and_serves_pages_with_debug_off(tmp_path, test_database_url, demo_model):
    data = _data_dir(tmp_path / "data")  # no static files collected here yet: bootstrap must do it
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env |= {"RISKENGINE_ENV_FILE": "none", "DEBUG": "1", "DATABASE_URL": test_database_url}
    env |= {"RISKENGINE_DATA_DIR": str(data), "PORT": str(port), "SECURE_SSL_REDIRECT": "0"}

    refused = subprocess.run(["make", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "riskengine: SECRET_KEY is required when DEBUG is off." in refused.stderr  # DEBUG=1 did not win
    assert "Traceback" not in refused.stderr

    env |= {"SECRET_KEY": "k" * 50, "JWT_SIGNING_KEY": "j" * 50}
    server = subprocess.Popen(
        ["make", "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if _get(port, "/readyz", timeout=5)[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        status, _, body = _get(port, "/accounts/login/", timeout=10)
        assert status == 200, body[:300]
        stylesheet = re.search(rb'href="(/static/css/dist/styles\.[0-9a-f]{12}\.css)"', body)
        assert stylesheet and _get(port, stylesheet.group(1).decode(), timeout=10)[0] == 200
        assert b"Traceback" not in body and _get(port, "/nothing-here/", timeout=10)[0] == 404  # DEBUG off
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

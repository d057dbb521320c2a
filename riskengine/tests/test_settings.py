"""The settings module itself fails loudly on bad configuration (run in a subprocess for a clean import)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    ours = {
        "DEBUG",
        "SECRET_KEY",
        "JWT_SIGNING_KEY",
        "DATABASE_URL",
        "DATABASE_REPLICA_URL",
        "LOG_FORMAT",
        "API_THROTTLE_RATE",
        "TRUSTED_PROXIES",
        "METRICS_TOKEN",
        "METRICS_ALLOWED_IPS",
    }
    environ = {k: v for k, v in os.environ.items() if k not in ours}
    environ["RISKENGINE_ENV_FILE"] = "none"  # a developer's .env must not fill in what a test leaves out
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import riskengine.settings as s; print(s.DEBUG, s.DATABASES['default']['ENGINE'])"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_requires_a_secret_key_when_debug_is_off():
    result = _import_settings(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_it_rejects_a_bad_boolean():
    result = _import_settings(DEBUG="sometimes")
    assert result.returncode != 0
    assert "DEBUG='sometimes' is not a boolean" in result.stderr


def test_it_rejects_a_non_postgres_database_url():
    result = _import_settings(DEBUG="1", DATABASE_URL="sqlite:///tmp/x.db")
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_it_uses_the_embedded_server_without_database_url():
    result = _import_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "core.db"]


def test_it_uses_database_url_through_the_project_backend():
    result = _import_settings(
        DEBUG="0", SECRET_KEY="x" * 50, JWT_SIGNING_KEY="y" * 50, DATABASE_URL="postgres://u:p@db.internal:5433/risk"
    )
    assert result.returncode == 0, result.stderr
    # core.db: Django's PostgreSQL backend with the cheaper health check, no embedded server.
    assert result.stdout.split() == ["False", "core.db"]


def test_it_adds_a_read_replica_alias_from_database_replica_url():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import riskengine.settings as s; r = s.DATABASES['replica']; print(r['HOST'], r['NAME'])",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "RISKENGINE_ENV_FILE": "none",
            "DEBUG": "1",
            "DATABASE_REPLICA_URL": "postgres://u:p@standby.internal:5432/risk",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["standby.internal", "risk"]


def test_it_rejects_a_non_postgres_replica_url():
    result = _import_settings(DEBUG="1", DATABASE_REPLICA_URL="mysql://u:p@standby/risk")
    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL must point at PostgreSQL" in result.stderr


def test_it_rejects_a_bad_log_format():
    result = _import_settings(DEBUG="1", LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT='xml' must be one of: text, json" in result.stderr


def test_it_requires_a_jwt_signing_key_of_its_own_when_debug_is_off():
    result = _import_settings(DEBUG="0", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY is required" in result.stderr


def test_it_rejects_a_malformed_throttle_rate():
    result = _import_settings(DEBUG="1", API_THROTTLE_RATE="lots")
    assert result.returncode != 0
    assert "API_THROTTLE_RATE='lots' must look like 600/min" in result.stderr


def test_it_rejects_a_bad_api_key_cache_ttl():
    for raw, message in (("ten", "is not an integer"), ("-1", "below the minimum 0"), ("301", "above the maximum 300")):
        result = _import_settings(DEBUG="1", API_KEY_CACHE_SECONDS=raw)
        assert result.returncode != 0
        assert "API_KEY_CACHE_SECONDS" in result.stderr and message in result.stderr


PRINT = "import riskengine.settings as s; print(s.DEBUG, s.SECRET_KEY, s.JWT_SIGNING_KEY)"


def _settings_with_file(tmp_path: Path, text: str, **env: str) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "local.env"
    env_file.write_text(text)
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "RISKENGINE_ENV_FILE": str(env_file),
    }
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", PRINT], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_local_env_file_configures_a_new_shell(tmp_path):
    """What `make run` writes lets a manage.py command run with no variables set (the README's promise)."""
    from core.local_env import write_local_env

    assert write_local_env(tmp_path / "fresh.env")
    assert not write_local_env(tmp_path / "fresh.env")  # never overwritten
    result = _settings_with_file(tmp_path, (tmp_path / "fresh.env").read_text())
    assert result.returncode == 0, result.stderr
    debug, secret, jwt = result.stdout.split()
    assert debug == "True" and len(secret) >= 50 and len(jwt) >= 50 and secret != jwt


def test_real_environment_variables_win_over_the_file(tmp_path):
    result = _settings_with_file(tmp_path, "DEBUG=1\nSECRET_KEY=" + "f" * 40 + "\n", SECRET_KEY="e" * 40)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "e" * 40


def test_production_still_refuses_to_start_without_real_secrets(tmp_path):
    result = _settings_with_file(tmp_path, "", DEBUG="0")
    assert result.returncode != 0 and "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_a_missing_env_file_named_explicitly_fails_loudly(tmp_path):
    result = _import_settings(RISKENGINE_ENV_FILE=str(tmp_path / "nope.env"))
    assert result.returncode != 0 and "is not a file" in result.stderr


@pytest.mark.parametrize(
    ("secret", "jwt", "message"),
    [
        ("change-me", "j" * 40, "SECRET_KEY is a documented placeholder"),
        ("s" * 40, "change-me-jwt", "JWT_SIGNING_KEY is a documented placeholder"),
        ("short-key", "j" * 40, "SECRET_KEY must be at least 32 characters"),
        ("s" * 40, "j" * 31, "JWT_SIGNING_KEY must be at least 32 characters"),
        ("s" * 40, "s" * 40, "JWT_SIGNING_KEY must differ from SECRET_KEY"),
    ],
)
def test_production_secrets_must_be_real(secret, jwt, message):
    result = _import_settings(DEBUG="0", SECRET_KEY=secret, JWT_SIGNING_KEY=jwt)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRUSTED_PROXIES", "10.0.0.0/33", "TRUSTED_PROXIES"),
        ("TRUSTED_PROXIES", "99", "more proxies"),
        ("METRICS_ALLOWED_IPS", "not-an-address", "METRICS_ALLOWED_IPS"),
        ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 32"),
    ],
)
def test_bad_network_settings_fail_loudly(variable, value, message):
    result = _import_settings(DEBUG="1", **{variable: value})
    assert result.returncode != 0 and message in result.stderr


def test_production_reads_its_secrets_from_files(tmp_path):
    (tmp_path / "key").write_text("k" * 40 + "\n")
    (tmp_path / "jwt").write_text("j" * 40)
    (tmp_path / "db").write_text("postgres://u:p@db.example:5432/risk\n")
    result = _import_settings(
        DEBUG="0",
        SECRET_KEY_FILE=str(tmp_path / "key"),
        JWT_SIGNING_KEY_FILE=str(tmp_path / "jwt"),
        DATABASE_URL_FILE=str(tmp_path / "db"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "core.db"]


def _gunicorn_config(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_"))}
    environ.update(RISKENGINE_ENV_FILE="none", RISKENGINE_DATA_DIR=str(tmp_path / "data"), **env)
    code = "import runpy; c = runpy.run_path('gunicorn.conf.py'); print(c['workers'], c['threads'], c['bind'])"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_gunicorn_config_writes_nothing_and_reads_through_core_env(tmp_path):
    refused = _gunicorn_config(tmp_path)
    assert refused.returncode != 0 and "run `python -m core.metrics_dir` before gunicorn" in refused.stderr
    assert not (tmp_path / "data").exists()  # importing the config created nothing
    metrics = tmp_path / "data" / "prometheus"
    metrics.mkdir(parents=True)
    (metrics / "counter_1.db").write_text("left by an earlier server")
    result = _gunicorn_config(tmp_path, GUNICORN_WORKERS="3", PORT="8123")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "4", "127.0.0.1:8123"]
    assert (metrics / "counter_1.db").exists()  # ... and removed nothing
    bad = _gunicorn_config(tmp_path, GUNICORN_THREADS="many")
    assert bad.returncode != 0 and "GUNICORN_THREADS='many' is not an integer" in bad.stderr
    prepared = subprocess.run(
        [sys.executable, "-m", "core.metrics_dir"],
        cwd=ROOT,
        env={**os.environ, "RISKENGINE_ENV_FILE": "none", "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert str(metrics) in prepared.stderr and list(metrics.iterdir()) == []


def test_a_metrics_directory_that_cannot_be_made_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "core.metrics_dir"],
        cwd=ROOT,
        env={**os.environ, "RISKENGINE_ENV_FILE": "none", "PROMETHEUS_MULTIPROC_DIR": str(blocker / "prometheus")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("cannot prepare the metrics directory") and len(result.stderr.splitlines()) == 1

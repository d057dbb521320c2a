"""The edge: deploy/nginx/ in front of gunicorn (Debian's nginx, started here on loopback like the
embedded PostgreSQL), and gunicorn's own read deadline when it is exposed directly."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "riskengine.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
SLOW_REQUEST = b"POST /api/predict/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_template(values: dict[str, str]) -> str:
    """What the official image's envsubst step does: ``${NAME}`` for each NAME given, nginx's own
    ``$variables`` untouched."""
    text = re.sub(r"\$\{(NGINX_[A-Z_]+)\}", lambda m: values[m.group(1)], TEMPLATE.read_text())
    assert "${" not in text, "a variable the template names was not given"
    return text


def _wait_for_port(port: int, *, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited at start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@contextmanager
def nginx_in_front(tmp_path: Path, *, upstream_port: int, **overrides: str) -> Iterator[int]:
    """deploy/nginx/'s server block inside a minimal main config, on a free loopback port."""
    port = _free_port()
    static = tmp_path / "static"
    static.mkdir(parents=True, exist_ok=True)
    values = {
        "NGINX_LISTEN": f"127.0.0.1:{port}",
        "NGINX_UPSTREAM": f"127.0.0.1:{upstream_port}",
        "NGINX_STATIC_ROOT": str(static),
        "NGINX_MAX_BODY": "200m",
        "NGINX_REQUESTS_PER_SECOND": "200",
        "NGINX_REQUEST_BURST": "400",
        "NGINX_CONNECTIONS_PER_ADDRESS": "64",
        "NGINX_UPSTREAM_TIMEOUT": "60s",
        **overrides,
    }
    (tmp_path / "riskengine.conf").write_text(render_template(values))
    (tmp_path / "nginx.conf").write_text(
        f"user {'root' if os.geteuid() == 0 else 'nobody'};\nworker_processes 1;\npid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n"
        + "".join(f"  {kind}_temp_path {tmp_path}/{kind};\n" for kind in TEMP_PATHS)
        + f"  include {tmp_path}/riskengine.conf;\n}}\n"
    )  # fmt: skip
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for_port(port, process=process, seconds=10)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Server:
    pid: int  # the gunicorn master's
    port: int


def _data_dir(path: Path) -> Path:
    """A new RISKENGINE_DATA_DIR sharing this one's exported embedding model (spares the export)."""
    from django.conf import settings

    path.mkdir(parents=True)
    if Path(settings.EMBEDDING_CACHE_DIR).is_dir():
        (path / "embedding").symlink_to(settings.EMBEDDING_CACHE_DIR)
    return path


@contextmanager
def gunicorn_server(
    tmp_path: Path, *, database_url: str, read_timeout: int = 10, pages: bool = False, **extra: str
) -> Iterator[Server]:
    """gunicorn with the project's gunicorn.conf.py and production settings on the test database."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_REPLICA_URL", "RISKENGINE_ENV_FILE"}},
        "RISKENGINE_ENV_FILE": "none", "DEBUG": "0", "SECRET_KEY": "s" * 50, "JWT_SIGNING_KEY": "j" * 50,
        "SECURE_SSL_REDIRECT": "0", "TRUSTED_PROXIES": "1", "DATABASE_URL": database_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_READ_TIMEOUT": str(read_timeout),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), **extra,
    }  # fmt: skip
    subprocess.run([sys.executable, "-m", "core.metrics_dir"], cwd=ROOT, env=env, check=True, capture_output=True)
    if pages:  # HTML pages need the static manifest: collected into a data directory of its own
        env["RISKENGINE_DATA_DIR"] = str(_data_dir(tmp_path / "data"))
        collect = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]
        subprocess.run(collect, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    log = (tmp_path / "gunicorn.log").open("wb")  # read it when a test fails
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=ROOT, env=env, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        _wait_for_port(port, process=process, seconds=120)
        assert _get(port, "/readyz", timeout=60)[0] == 200
        yield Server(pid=process.pid, port=port)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _get(port: int, path: str, *, timeout: float) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _predict(port: int, *, key: str, features: dict[str, object], timeout: float) -> tuple[int, float]:
    body = json.dumps({"model": "credit", "features": features})
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/api/predict/", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        conn.close()


@contextmanager
def slow_clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that send a request line and some headers, then nothing."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(SLOW_REQUEST)
            sockets.append(sock)
        time.sleep(0.5)  # every partial request has reached the server
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_64_slow_connections_through_nginx_leave_a_prediction_answering_within_a_second(
    tmp_path, demo_model, api_key, test_database_url, german_credit_row
):
    key = api_key[1]
    with (
        gunicorn_server(tmp_path / "app", database_url=test_database_url, read_timeout=3) as app,
        nginx_in_front(tmp_path / "nginx", upstream_port=app.port) as proxy_port,
    ):
        app_port = app.port
        assert _predict(proxy_port, key=key, features=german_credit_row, timeout=30)[0] == 201  # warm
        with slow_clients(proxy_port, 64):
            status, seconds = _predict(proxy_port, key=key, features=german_credit_row, timeout=5)
            assert status == 201 and seconds < 1.0, (status, seconds)

        # the same attack on gunicorn itself degrades it but does not stop it: every stalled request
        # is dropped after GUNICORN_READ_TIMEOUT (3 s here), and a prediction gets through
        with slow_clients(app_port, 16) as stalled:
            status, seconds = _predict(app_port, key=key, features=german_credit_row, timeout=30)
            assert status == 201 and seconds < 15, (status, seconds)
            for sock in stalled:
                sock.settimeout(15)
                assert sock.recv(100) == b""


def test_nginx_serves_static_files_itself_with_long_caching_for_hashed_names(tmp_path):
    with nginx_in_front(tmp_path, upstream_port=_free_port()) as port:
        (tmp_path / "static" / "css").mkdir()
        (tmp_path / "static" / "css" / "app.0123456789ab.css").write_text("body{}")
        status, headers, body = _get(port, "/static/css/app.0123456789ab.css", timeout=5)
        assert status == 200 and body == b"body{}"
        assert "immutable" in headers["Cache-Control"] and "max-age=31536000" in headers["Cache-Control"]
        assert _get(port, "/static/nothing.css", timeout=5)[0] == 404


def test_nginx_refusals_are_in_the_api_error_shape(tmp_path):
    with nginx_in_front(tmp_path, upstream_port=_free_port(), NGINX_MAX_BODY="1k") as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/api/predict/", body=b"x" * 4096, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "too_large"

        status, headers, body = _get(port, "/healthz", timeout=5)  # nothing listens upstream
        assert status == 503 and headers["Retry-After"] == "5"
        assert json.loads(body)["error"]["code"] == "unavailable"


def test_nginx_limits_requests_per_address_with_a_429_and_retry_after(tmp_path):
    with nginx_in_front(
        tmp_path, upstream_port=_free_port(), NGINX_REQUESTS_PER_SECOND="1", NGINX_REQUEST_BURST="2"
    ) as port:
        statuses = [_get(port, "/healthz", timeout=5) for _ in range(6)]
        throttled = [answer for answer in statuses if answer[0] == 429]
        assert throttled and throttled[0][1]["Retry-After"] == "1"
        assert json.loads(throttled[0][2])["error"]["code"] == "throttled"

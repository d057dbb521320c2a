"""A 100 MB CSV upload to the import page costs the web worker at most 100 MB above idle: the body
goes to a temporary file and on into the database a compressed megabyte at a time (it used to cost
about 9x its size)."""

from __future__ import annotations

import http.client
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from django.test import Client

from riskengine.tests.test_proxy import gunicorn_server

MB = 1 << 20
BOUNDARY = "riskengine-upload-boundary"


def _csv(path: Path, rows: list[str], header: str, size: int) -> None:
    """``size`` bytes of the demo rows, each with a note of random hex: it compresses only about 2:1,
    as real free text does (identical rows would compress 1000:1 and hide any copy of the upload)."""
    noise = os.urandom(size // 2).hex()
    with path.open("w") as handle:
        handle.write(header + ",note\n")
        written, i = 0, 0
        while written < size:
            start = (i * 300) % (len(noise) - 300)
            line = f"{rows[i % len(rows)]},{noise[start : start + 300]}\n"
            handle.write(line)
            written, i = written + len(line), i + 1


def _multipart(fields: dict[str, str], path: Path) -> tuple[list[bytes], int, Iterator[bytes]]:
    head = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    )
    head += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'.encode()
    head += b"Content-Type: text/csv\r\n\r\n"
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as handle:
            while chunk := handle.read(MB):
                yield chunk
        yield tail

    return [head, tail], len(head) + path.stat().st_size + len(tail), body()


class _Peak(threading.Thread):
    """The highest RSS of the server's workers, sampled every 10 ms until stopped."""

    def __init__(self, workers: list[psutil.Process]) -> None:
        super().__init__(daemon=True)
        self.workers, self.peak, self.stopped = workers, {w.pid: 0 for w in workers}, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.01):
            for worker in self.workers:
                self.peak[worker.pid] = max(self.peak[worker.pid], worker.memory_info().rss)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_100_mb_upload_costs_the_web_worker_at_most_100_mb(
    tmp_path, settings, staff_user, demo_model, german_rows, test_database_url
):
    settings.SECRET_KEY = "u" * 50  # the session made here is valid in the server
    client = Client()
    client.force_login(staff_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    lines = german_rows.to_csv(index=False).splitlines()
    upload = tmp_path / "history.csv"
    _csv(upload, lines[1:], lines[0], 100 * MB)

    with gunicorn_server(
        tmp_path, database_url=test_database_url, SECRET_KEY="u" * 50, GUNICORN_WORKERS="1", pages=True
    ) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        conn.request("GET", "/records/import/", headers={"Cookie": cookie})
        page = conn.getresponse()
        html = page.read().decode()
        assert page.status == 200, (page.status, page.getheader("Location"), html[:300])
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        csrf_cookie = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie") or "")
        assert token and csrf_cookie
        [worker] = psutil.Process(server.pid).children()
        idle = worker.memory_info().rss
        peak = _Peak([worker])
        peak.start()
        _, length, body = _multipart({"csrfmiddlewaretoken": token.group(1), "model": "credit"}, upload)
        headers = {
            "Cookie": f"{cookie}; csrftoken={csrf_cookie.group(1)}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(length),
        }
        started = time.perf_counter()
        conn.request("POST", "/records/import/", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        peak.stopped.set()
        peak.join()
    assert answer.status == 302 and "/records/import/" in (answer.getheader("Location") or ""), answer.status
    grew = (peak.peak[worker.pid] - idle) / MB
    assert grew <= 100, f"the worker grew {grew:.0f} MB for a 100 MB upload ({time.perf_counter() - started:.1f} s)"

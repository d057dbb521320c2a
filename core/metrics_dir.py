"""prometheus_client's multiprocess directory for gunicorn's workers: where it is, and getting it ready.

``gunicorn.conf.py`` only reads where it is (and refuses to start if it is missing); the commands
that start gunicorn (``make serve``, the image, compose, the benchmarks) run
``python -m core.metrics_dir`` first, which creates it and removes the files of earlier servers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.env import Env, env


def metrics_dir_path(*, environ: Env = env) -> Path:
    """``PROMETHEUS_MULTIPROC_DIR``, or ``RISKENGINE_DATA_DIR/prometheus`` (default ``.data``)."""
    if environ.is_set("PROMETHEUS_MULTIPROC_DIR"):
        return Path(environ.string("PROMETHEUS_MULTIPROC_DIR")).expanduser()
    return Path(environ.string("RISKENGINE_DATA_DIR", default=".data")).expanduser() / "prometheus"


def metrics_dir_prepare(path: Path) -> Path:
    """Create the directory and empty it: counters left by an earlier server would be summed in."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.iterdir():
        if stale.is_file():
            stale.unlink()
    return path


def main() -> int:
    path = metrics_dir_path()
    try:
        print(metrics_dir_prepare(path), file=sys.stderr)  # noqa: T201 - a command's one line
    except OSError as exc:
        print(f"cannot prepare the metrics directory {path}: {exc.strerror or exc}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

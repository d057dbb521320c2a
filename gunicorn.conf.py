"""gunicorn settings, read from the environment (see .env.example)."""

import os
from pathlib import Path

# One BLAS/OpenMP thread per worker: idle OpenBLAS threads spin and take the CPU that the embedder's
# ONNX Runtime threads and PostgreSQL need (docs/performance.md). Set before the app is imported.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Prometheus metrics from every worker, aggregated at /metrics (prometheus_client multiprocess mode).
_metrics_dir = Path(
    os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(os.environ.get("RISKENGINE_DATA_DIR") or ".data") / "prometheus"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)
_metrics_dir.mkdir(parents=True, exist_ok=True)
for _stale in _metrics_dir.iterdir():
    _stale.unlink()

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # bench/gunicorn.py: best throughput and p99
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") not in {"0", "false", "no", "off"}
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "0") in {"1", "true", "yes", "on"} else None
errorlog = "-"
wsgi_app = "riskengine.wsgi:application"


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    """ONNX Runtime's threads do not survive fork: each worker builds its own session."""
    from predictions.warmup import after_fork

    after_fork()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

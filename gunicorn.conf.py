"""gunicorn settings, read from the environment through ``core.env`` (see .env.example).

Nothing here writes to disk: ``python -m core.metrics_dir`` prepares the metrics directory first
(``make serve``, the image and compose run it).
"""

import os

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from core.env import env
from core.gunicorn_worker import DeadlineThreadWorker
from core.metrics_dir import metrics_dir_path

# One BLAS/OpenMP thread per worker: idle OpenBLAS threads spin and take the CPU that the embedder's
# ONNX Runtime threads and PostgreSQL need (docs/performance.md). Set before the app is imported.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Prometheus metrics from every worker, aggregated at /metrics (prometheus_client multiprocess mode).
_metrics_dir = metrics_dir_path()
if not _metrics_dir.is_dir():
    raise RuntimeError(f"{_metrics_dir} does not exist: run `python -m core.metrics_dir` before gunicorn")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)

bind = env.string("GUNICORN_BIND", default=f"127.0.0.1:{env.integer('PORT', default=8000, min_value=1)}")
workers = env.integer("GUNICORN_WORKERS", default=2, min_value=1)
threads = env.integer("GUNICORN_THREADS", default=4, min_value=1)  # bench/gunicorn.py: best throughput and p99
preload_app = env.boolean("GUNICORN_PRELOAD", default=True)
timeout = env.integer("GUNICORN_TIMEOUT", default=30, min_value=1)
graceful_timeout = env.integer("GUNICORN_GRACEFUL_TIMEOUT", default=20, min_value=1)
keepalive = 5
# Slow clients: nginx in front absorbs them (deploy/nginx/); these keep a directly exposed gunicorn
# degrading instead of stopping. A request line, header count and header size past these get a 400.
worker_class = "core.gunicorn_worker.DeadlineThreadWorker"
DeadlineThreadWorker.read_timeout = env.integer("GUNICORN_READ_TIMEOUT", default=10, min_value=1, max_value=300)
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
max_requests = env.integer("GUNICORN_MAX_REQUESTS", default=0, min_value=0)
max_requests_jitter = max_requests // 10
accesslog = "-" if env.boolean("GUNICORN_ACCESS_LOG", default=False) else None
errorlog = "-"
wsgi_app = "riskengine.wsgi:application"


def post_fork(server: Arbiter, worker: Worker) -> None:
    """ONNX Runtime's threads do not survive fork: each worker builds its own session."""
    from predictions.warmup import after_fork

    after_fork()


def child_exit(server: Arbiter, worker: Worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

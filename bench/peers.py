"""riskengine against the servers a user would pick instead, side by side in one run.

Usage: make bench-peers   (builds .venv-peers, then runs both steps below)

  .venv-peers/bin/python -m bench.peers prepare --out .data-bench-peers
      fits the German credit logistic pipeline exactly as ``train_model`` does (same code, same
      split, same seed) and saves it for MLServer 1.7.1 (mlserver-sklearn, ``predict_proba``) and
      for ``mlflow models serve`` 3.17.2 (``pyfunc_predict_fn="predict_proba"``), with the request
      rows (every row of the data, as feature dicts).
  .venv/bin/python -m bench.peers run --dir .data-bench-peers [--rounds 2] [--seconds 30]
      serves the model from each peer and from riskengine (tabular and text embedders), one
      server at a time, each a fresh process with 2 workers on loopback, the servers alternating
      ``--rounds`` times. Each: warm-up, one keep-alive client for ``--single`` requests (p50),
      16 keep-alive clients for ``--seconds`` seconds (requests/s, p99), and the proportional set
      size (PSS) of the server's processes at the end. Prints the table and the ratios to the best
      peer.

The peers return the probability only; riskengine also returns the label and exact drivers,
embeds the row and stores the record.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


# --- prepare (in .venv-peers) ---------------------------------------------------------------


def _prepare(out: Path) -> None:
    # The peers' own formats; this step runs only in .venv-peers, where these are installed.
    import joblib  # type: ignore[import-untyped]  # no type hints shipped
    import mlflow.sklearn  # type: ignore[import-not-found]  # in .venv-peers only

    from predictions.ml.features import decode_row, encode_frame
    from predictions.ml.training import read_training_csv, train

    frame = read_training_csv(ROOT / "data" / "german_credit.csv")
    trained = train(frame, target="creditability", positive="bad", algorithm="logistic", exclude=[])
    encoded = encode_frame(frame.drop(columns=["creditability"]), trained.schema)
    rows = [decode_row(trained.schema, row) for row in encoded]
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.json").write_text(json.dumps({"columns": [s.name for s in trained.schema], "rows": rows}))
    serving = out / "mlserver"
    serving.mkdir(exist_ok=True)
    joblib.dump(trained.pipeline, serving / "model.joblib")
    settings = {
        "name": "credit",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "extra": {"method": "predict_proba"}},
    }
    (serving / "model-settings.json").write_text(json.dumps(settings))
    flavour = out / "mlflow"
    if flavour.exists():
        import shutil

        shutil.rmtree(flavour)
    mlflow.sklearn.save_model(
        trained.pipeline, str(flavour), pyfunc_predict_fn="predict_proba", skops_trusted_types=["numpy.dtype"]
    )
    print(f"prepared {out}: {len(rows)} rows, holdout AUC {trained.metrics.get('roc_auc', float('nan')):.3f}")


# --- run (in .venv) -------------------------------------------------------------------------


def _v2_input(name: str, value: Any) -> dict[str, Any]:
    """One column of a V2 inference request (MLServer's pandas codec turns them into a frame)."""
    if isinstance(value, str):
        return {"name": name, "shape": [1], "datatype": "BYTES", "data": [value]}
    if isinstance(value, bool):
        return {"name": name, "shape": [1], "datatype": "BOOL", "data": [value]}
    return {"name": name, "shape": [1], "datatype": "FP64", "data": [None if value is None else float(value)]}


def _request_for(kind: str, columns: list[str], rows: list[dict[str, Any]], model: str = "") -> Callable[[int], Any]:
    headers = {"Content-Type": "application/json"}
    if kind == "mlserver":

        def body(row: dict[str, Any]) -> str:
            inputs = [_v2_input(name, row.get(name)) for name in columns]
            return json.dumps({"parameters": {"content_type": "pd"}, "inputs": inputs})

        path = "/v2/models/credit/infer"
    elif kind == "mlflow":

        def body(row: dict[str, Any]) -> str:
            return json.dumps({"dataframe_split": {"columns": columns, "data": [[row.get(c) for c in columns]]}})

        path = "/invocations"
    else:

        def body(row: dict[str, Any]) -> str:
            return json.dumps({"model": model, "features": row})

        path = "/api/predict/"
    bodies = [body(row) for row in rows]
    return lambda i: ("POST", path, bodies[i % len(bodies)], headers)


def _start(kind: str, port: int, data: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if kind == "mlserver":
        settings = {"http_port": port, "grpc_port": port + 1, "parallel_workers": 2, "metrics_port": port + 2}
        (data / "mlserver" / "settings.json").write_text(json.dumps(settings))
        command = [str(PEERS_PYTHON.parent / "mlserver"), "start", str(data / "mlserver")]
        return subprocess.Popen(command, cwd=data / "mlserver", env=env, **quiet)  # type: ignore[call-overload,no-any-return]  # quiet: the two streams
    if kind == "mlflow":
        command = [str(PEERS_PYTHON.parent / "mlflow"), "models", "serve", "-m", str(data / "mlflow"),
                   "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "2"]  # fmt: skip
        path = {"PATH": f"{PEERS_PYTHON.parent}:{env.get('PATH', '')}"}  # mlflow starts uvicorn from PATH
        return subprocess.Popen(command, env={**env, **path}, **quiet)  # type: ignore[call-overload,no-any-return]  # as above
    from bench.gunicorn import start_gunicorn

    return start_gunicorn(
        dict(env, GUNICORN_WORKERS="2", GUNICORN_BIND=f"127.0.0.1:{port}", API_THROTTLE_RATE="1000000/min")
    )


def _pss_mib(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker may end while it is counted
            total += process.memory_full_info().pss
    return total / 2**20


def _wait_ready(port: int, request: Callable[[int], Any], expect: int, timeout: float = 240) -> None:
    import http.client

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            method, path, body, headers = request(0)
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status == expect:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server on port {port} did not answer {expect}")


def _load(port: int, request: Callable[[int], Any], expect: int, clients: int, seconds: float) -> tuple[Any, float]:
    from bench.client import keep_alive_load

    tally, threads, started = keep_alive_load(
        port=port, clients=clients, seconds=seconds, request=request, expect=expect
    )
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - started


def _measure(port: int, request: Callable[[int], Any], expect: int, args: argparse.Namespace) -> dict[str, float]:
    from bench.client import percentile

    _load(port, request, expect, 4, 3)  # warm-up
    tally, _ = _load(port, request, expect, 1, args.single_seconds)
    single = statistics.median(tally.latencies) * 1000
    tally, elapsed = _load(port, request, expect, 16, args.seconds)
    errors = sum(n for status, n in tally.statuses.items() if status != str(expect))
    return {"p50_1": single, "rps": tally.ok / elapsed, "p99": percentile(tally.latencies, 0.99), "errors": errors}


def _run(args: argparse.Namespace) -> None:
    from bench.gunicorn import setup_django

    # Its own database, where the model under test is the only one in production: a deployment of
    # the default configuration (no text model) never loads the text embedder.
    os.environ["RISKENGINE_DATA_DIR"] = str((args.dir / "db").resolve())
    setup_django(production=True)
    from accounts.services import api_key_create
    from bench.predict import _model_ensure

    data = json.loads((args.dir / "rows.json").read_text())
    columns, rows = data["columns"], data["rows"]
    key = api_key_create(name=f"bench-peers-{os.getpid()}")[1]
    servers: dict[str, tuple[Callable[[int], Any], int]] = {}
    for embedder in ("tabular", "text"):
        request = _request_for("riskengine", columns, rows, _model_ensure(embedder))
        servers[f"riskengine, {embedder} embedder"] = _with_key(request, key), 201
    servers["MLServer 1.7.1 (mlserver-sklearn)"] = _request_for("mlserver", columns, rows), 200
    servers["mlflow 3.17.2 models serve"] = _request_for("mlflow", columns, rows), 200
    env = dict(os.environ, **{k: os.environ[k] for k in ("DEBUG", "SECRET_KEY", "JWT_SIGNING_KEY") if k in os.environ})
    results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for round_ in range(args.rounds):
        for name, (request, expect) in servers.items():
            kind = {"MLServer": "mlserver", "mlflow": "mlflow"}.get(name.split()[0], "riskengine")
            port = args.port + 10 * list(servers).index(name)
            if kind == "riskengine":
                _serve_only(f"bench-{name.split()[1]}")
            server = _start(kind, port, args.dir, env)
            try:
                _wait_ready(port, request, expect)
                figures = _measure(port, request, expect, args)
                figures["pss"] = _pss_mib(server.pid)
            finally:
                server.terminate()
                server.wait(timeout=60)
            results[name].append(figures)
            print(f"round {round_ + 1} {name}: {json.dumps({k: round(v, 2) for k, v in figures.items()})}", flush=True)
    _table(results)


def _serve_only(name: str) -> None:
    """``name``'s newest version in production, every other model out of it (the bench's own database)."""
    from predictions.models import ModelVersion
    from predictions.services import model_version_promote

    ModelVersion.objects.filter(status=ModelVersion.Status.PRODUCTION).exclude(name=name).update(
        status=ModelVersion.Status.ARCHIVED
    )
    version = ModelVersion.objects.filter(name=name).order_by("-version").first()
    if version is not None:
        model_version_promote(model_version=version)


def _with_key(request: Callable[[int], Any], key: str) -> Callable[[int], Any]:
    def keyed(i: int) -> Any:
        method, path, body, headers = request(i)
        return method, path, body, {**headers, "Authorization": f"Api-Key {key}"}

    return keyed


def _spans(rounds: list[dict[str, float]]) -> Callable[[str, str], str]:
    def span(key: str, fmt: str) -> str:
        values = sorted(r[key] for r in rounds)
        return f"{values[0]:{fmt}}-{values[-1]:{fmt}}" if len(values) > 1 else f"{values[0]:{fmt}}"

    return span


def _table(results: dict[str, list[dict[str, float]]]) -> None:
    peers = [name for name in results if not name.startswith("riskengine")]
    best_rps = max(statistics.median(r["rps"] for r in results[name]) for name in peers)
    best_p50 = min(statistics.median(r["p50_1"] for r in results[name]) for name in peers)
    print("\n| server | 1 client p50 | 16 clients req/s | p99 | PSS | req/s / best peer | p50 / best peer |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, rounds in results.items():
        span = _spans(rounds)
        rps = statistics.median(r["rps"] for r in rounds)
        p50 = statistics.median(r["p50_1"] for r in rounds)
        errors = int(sum(r["errors"] for r in rounds))
        print(f"| {name} | {span('p50_1', '.1f')} ms | {span('rps', '.0f')} | {span('p99', '.0f')} ms | "
              f"{span('pss', '.0f')} MiB | {rps / best_rps:.2f} | {p50 / best_p50:.2f} |"
              + (f" ({errors} errors)" if errors else ""))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="step", required=True)
    prepare = sub.add_parser("prepare")
    prepare.add_argument("--out", type=Path, default=ROOT / ".data-bench-peers")
    run = sub.add_parser("run")
    run.add_argument("--dir", type=Path, default=ROOT / ".data-bench-peers")
    run.add_argument("--rounds", type=int, default=2)
    run.add_argument("--seconds", type=float, default=30)
    run.add_argument("--single-seconds", type=float, default=10)
    run.add_argument("--port", type=int, default=8900)
    args = parser.parse_args()
    if args.step == "prepare":
        _prepare(args.out)
    else:
        _run(args)


if __name__ == "__main__":
    main()

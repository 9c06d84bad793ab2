"""Serving speed: Relay's service against MLflow's scoring server and BentoML, on the same champion.

Each server runs as a local subprocess with one worker, and the same client drives all three on
127.0.0.1: single-record requests at concurrency 1 and 16, then 1,000-record batches at concurrency 1.
Relay's service logs every prediction (as in production); the peers log nothing. The durable log's cost
(RELAY_PREDICTION_LOG_ACK=durable: each answer waits for its log commit) is measured against the default
with both services up at once, driven in turns at concurrency 16 (`durable_cost`).

- MLflow: `mlflow models serve --env-manager local -w 1` on `models:/<name>@champion`.
- BentoML: `benchmarks/bentoml_service.py`, adaptive batching (`@bentoml.api(batchable=True)`) with
  `max_latency_ms` 1000 (at 10 ms it sheds most requests as 503 at concurrency 16), in a venv of its own
  built by `benchmarks/bentoml_env.py` (BentoML is no dependency of Relay), on a joblib export of the champion.
- Thread settings: Relay uses its defaults (one OpenMP thread for small calls, all cores for big ones). Each
  peer gets the setting that suits the load: OMP_NUM_THREADS=1 for single records (two threads spin for the
  core the server's event loop needs), its default (all cores) for 1,000-record batches.

The client is the standard library's `http.client` on keep-alive connections, one thread per connection,
with the bodies encoded once: httpx cost about a millisecond a request in the client, which is noise shared
by every server but hides what the servers themselves do. Errors (BentoML's 503 "overloaded", say) are
counted and not in req/s. The floors are the champion's own `predict_proba` in a process of its own, back
to back, and for one record also with the model idle 2 ms between calls, as it is at concurrency 1, both
through scikit-learn's pipeline and through the fast path the service scores a tree model on.

Needs a champion in the configured MLflow store (run `make demo` first). Every process started here is
stopped by its PID (BentoML by its process group) at the end; each load run is bounded by its request count.

    .venv/bin/python benchmarks/serving.py [--requests 3000] [--batches 60] [--servers relay,mlflow,bentoml]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
SINGLE_1, SINGLE_16, BATCH = "1 record, concurrency 1", "1 record, concurrency 16", "1,000-record batches"
DURABLE, TURNS = "relay-durable", "(turns)"  # Relay with RELAY_PREDICTION_LOG_ACK=durable; see durable_cost


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready within {seconds:.0f} s")


def drive(port: int, path: str, body: Any, concurrency: int, total: int) -> dict[str, float]:
    """`total` POSTs of `body`, `concurrency` at a time; successful req/s, p50/p99 latency, errors."""
    content = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    per_worker = max(1, total // concurrency)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        failed = 0
        for _ in range(5):  # warm-up: the connection, first-call costs
            conn.request("POST", path, body=content, headers=headers)
            conn.getresponse().read()
        start.wait()
        for _ in range(per_worker):
            began = time.perf_counter()
            try:
                conn.request("POST", path, body=content, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok = False
            if ok:
                mine.append((time.perf_counter() - began) * 1000)
            else:
                failed += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "req_s": len(latencies) / elapsed,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
        "errors": errors,
        "seconds": elapsed,
    }


FLOORS = """
import json, statistics, sys, time
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.sklearn.load_model(sys.argv[2])
one = pd.DataFrame([json.loads(sys.argv[3])])[list(model.feature_names_in_)]
many = pd.concat([one] * 1000, ignore_index=True)
out = []
for frame, n in ((one, 300), (many, 30)):
    for _ in range(10):
        model.predict_proba(frame)
    started = time.perf_counter()
    for _ in range(n):
        model.predict_proba(frame)
    out.append((time.perf_counter() - started) / n * 1000)
# One record again, with the model idle 2 ms between calls as it is at concurrency 1 (the rest of a round
# trip): on this machine that alone makes the call 1.5-3 ms slower than back to back.
idle = []
for _ in range(300):
    time.sleep(0.002)
    started = time.perf_counter()
    model.predict_proba(one)
    idle.append((time.perf_counter() - started) * 1000)
out.append(statistics.median(idle))
# The call the service makes for a tree model: its fast path (services/api/fast_path.py), also idle between calls.
sys.path.insert(0, sys.argv[4])
from services.api.fast_path import compile_pipeline
fast, record, idle = compile_pipeline(model), json.loads(sys.argv[3]), []
for _ in range(300 if fast is not None else 0):
    time.sleep(0.002)
    started = time.perf_counter()
    fast.outputs([record], "binary", 2)
    idle.append((time.perf_counter() - started) * 1000)
out.append(statistics.median(idle) if idle else float("nan"))
print(json.dumps(out))
"""


def floors(tracking_uri: str, model_uri: str, record: dict[str, Any]) -> tuple[float, float, float, float]:
    """The bare model's time for one record and for 1,000 back to back, for one record with 2 ms idle between
    calls (p50), and the same through the service's fast path (NaN when the model has none), in a process of
    its own: a model run in the client's process would leave OpenMP threads spinning there and slow it down."""
    out = subprocess.run(
        [sys.executable, "-c", FLOORS, tracking_uri, model_uri, json.dumps(record), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    one, thousand, idle, fast_idle = json.loads(out.strip().splitlines()[-1])
    return float(one), float(thousand), float(idle), float(fast_idle)


@dataclass
class Server:
    """How to start one server and what to send it."""

    name: str
    start: Callable[[int, dict[str, str]], subprocess.Popen[bytes]]
    stop: Callable[[subprocess.Popen[bytes]], object]
    ready_path: str
    single: tuple[str, Any]
    batch: tuple[str, Any]


@contextmanager
def running(server: Server, env: dict[str, str]) -> Iterator[int]:
    port = free_port()
    proc = server.start(port, env)
    try:
        wait_ready(f"http://127.0.0.1:{port}{server.ready_path}", proc)
        yield port
    finally:
        server.stop(proc)


def durable_cost(
    server: Server, env: dict[str, str], requests: int, results: dict[tuple[str, str], dict[str, float]]
) -> list[float]:
    """RELAY_PREDICTION_LOG_ACK=durable against the default, single records at concurrency 16. Both services
    run at once and are driven in turns, three each, so that a busy moment of a shared machine falls on
    both alike; each mode's row sums its turns. Returns the per-turn ratios (durable over default req/s)."""
    durable_env = env | {"RELAY_PREDICTION_LOG_ACK": "durable"}
    turns: dict[str, list[dict[str, float]]] = {"relay": [], DURABLE: []}
    with running(server, env) as fast_port, running(server, durable_env) as durable_port:
        for _ in range(3):
            for key, port in (("relay", fast_port), (DURABLE, durable_port)):
                turns[key].append(drive(port, *server.single, 16, requests // 3))
                print(f"{key} {SINGLE_16} {TURNS}: {turns[key][-1]}", file=sys.stderr)
    for key, runs in turns.items():
        ok = sum(r["req_s"] * r["seconds"] for r in runs)
        results[key, f"{SINGLE_16} {TURNS}"] = {
            "req_s": ok / sum(r["seconds"] for r in runs),
            "p50": statistics.median(r["p50"] for r in runs),
            "p99": max(r["p99"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
        }
    return [d["req_s"] / f["req_s"] for f, d in zip(turns["relay"], turns[DURABLE], strict=True)]


def main() -> None:  # noqa: PLR0915 (a script: each server set up in place, read top to bottom)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="single-record requests per load run")
    parser.add_argument("--batches", type=int, default=60, help="1,000-record batches per server")
    parser.add_argument("--servers", default="relay,mlflow,bentoml", help="comma-separated subset to run")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from pipelines.core.settings import get_settings
    from pipelines.flows.service import stop_service

    s = get_settings()
    record = s.contract.example_record()
    records = [record] * 1000
    work = Path(tempfile.mkdtemp(prefix="relay-serving-"))
    base_env = s.child_env() | {
        "RELAY_PREDICTION_LOG_URL": f"sqlite:///{work}/log.db",
        "RELAY_LOG_FORMAT": "text",
        "MLFLOW_TRACKING_URI": s.tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    champion = f"models:/{s.model_name}@champion"

    def popen(cmd: list[str], env: dict[str, str], log: str, cwd: Path) -> subprocess.Popen[bytes]:
        with open(work / log, "ab") as out:
            return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=out)

    servers = {
        "relay": Server(
            "relay",
            # The installed `relay` script, not `python -m`: with -m the current folder's copy of the code
            # would shadow the installed one.
            lambda port, env: popen(
                [str(Path(sys.executable).parent / "relay"), "serve", "--port", str(port)], env, "relay.log", s.root
            ),
            stop_service,
            "/health/ready",
            ("/v1/predict", record),
            ("/v1/predict/batch", {"records": records}),
        ),
        "mlflow": Server(
            "mlflow",
            lambda port, env: popen(
                [
                    *(sys.executable, "-m", "mlflow", "models", "serve", "-m", champion, "--env-manager", "local"),
                    *("-h", "127.0.0.1", "-p", str(port), "-w", "1"),
                ],
                env,
                "mlflow.log",
                work,
            ),
            stop_service,
            "/ping",
            ("/invocations", {"dataframe_records": [record]}),
            ("/invocations", {"dataframe_records": records}),
        ),
    }
    wanted = args.servers.split(",")
    if "bentoml" in wanted:
        sys.path.insert(0, str(REPO / "benchmarks"))
        import bentoml_env
        import joblib
        import mlflow

        started = time.perf_counter()
        python = bentoml_env.ensure_env(s.root)
        print(f"bentoml venv ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        mlflow.set_tracking_uri(s.tracking_uri)
        model = mlflow.sklearn.load_model(champion)
        joblib.dump(model, work / "champion.joblib")
        columns = list(model.feature_names_in_)
        servers["bentoml"] = Server(
            "bentoml",
            lambda port, env: bentoml_env.start(
                python,
                work / "champion.joblib",
                columns,
                port,
                max_latency_ms=1000,
                log=work / f"bentoml-{port}.log",
                extra_env=env,
            ),
            bentoml_env.stop,
            bentoml_env.READY_PATH,
            (bentoml_env.PREDICT_PATH, bentoml_env.single_body(record)),
            (bentoml_env.BATCH_PATH, bentoml_env.batch_body(records)),
        )

    # The floors before any server starts and again after they have all stopped; the lower of each is the
    # one compared (a busy moment only ever makes the model slower).
    floors_before = floors(s.tracking_uri, champion, record)
    results: dict[tuple[str, str], dict[str, float]] = {}
    ratios: list[float] = []
    for name in wanted:
        server = servers[name]
        # Relay decides its model threads per call; a peer gets the setting that suits each load.
        single_env = base_env if name == "relay" else base_env | {"OMP_NUM_THREADS": "1"}
        with running(server, single_env) as port:
            for conc, label in ((1, SINGLE_1), (16, SINGLE_16)):
                results[name, label] = drive(port, *server.single, conc, args.requests)
                print(f"{name:<8} {label}: {results[name, label]}", file=sys.stderr)
        if name == "relay":
            ratios = durable_cost(server, single_env, args.requests, results)
        batch_env = base_env
        with running(server, batch_env) as port:
            r = drive(port, *server.batch, 1, args.batches)
            r["records_s"] = r["req_s"] * 1000
            results[name, BATCH] = r
            print(f"{name:<8} {BATCH}: {r}", file=sys.stderr)

    floors_after = floors(s.tracking_uri, champion, record)
    one_ms, thousand_ms, idle_ms, fast_ms = (min(pair) for pair in zip(floors_before, floors_after, strict=True))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; logs in {work}")
    print(
        f"floor: predict_proba of 1 record {one_ms:.2f} ms, of 1,000 records {thousand_ms:.2f} ms, "
        f"of 1 record with 2 ms idle between calls {idle_ms:.2f} ms, the same on the fast path {fast_ms:.2f} ms "
        f"(before the servers {' / '.join(f'{x:.2f}' for x in floors_before)} ms, "
        f"after {' / '.join(f'{x:.2f}' for x in floors_after)} ms)"
    )
    print(f"{'server':<13} | {'load':<34} | {'req/s':>7} | {'records/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | errors")
    print(f"{'-' * 13}-+-{'-' * 34}-+-{'-' * 7}-+-{'-' * 9}-+-{'-' * 7}-+-{'-' * 7}-+-------")
    for (name, load), r in results.items():
        rec_s = r.get("records_s", r["req_s"])
        print(
            f"{name:<13} | {load:<34} | {r['req_s']:>7.0f} | {rec_s:>9.0f} | {r['p50']:>7.1f} | {r['p99']:>7.1f} | "
            f"{int(r['errors'])}"
        )
    if "relay" not in wanted:
        return
    fast, durable = results["relay", f"{SINGLE_16} {TURNS}"], results[DURABLE, f"{SINGLE_16} {TURNS}"]
    print(
        f"relay durable / fast log, {SINGLE_16} in turns: {durable['req_s'] / fast['req_s']:.2f}x req/s "
        f"(turns {', '.join(f'{x:.2f}' for x in ratios)}), p99 {durable['p99']:.1f} vs {fast['p99']:.1f} ms"
    )
    p50 = results["relay", SINGLE_1]["p50"]
    print(
        f"relay p50 at concurrency 1 is {p50 - one_ms:+.1f} ms from the back-to-back floor, "
        f"{p50 - idle_ms:+.1f} ms from the idle-between-calls floor, {p50 - fast_ms:+.1f} ms from the fast path's"
    )
    for peer in (p for p in wanted if p != "relay"):
        for load in (SINGLE_1, SINGLE_16, BATCH):
            ours, theirs = results["relay", load], results[peer, load]
            print(
                f"relay / {peer}, {load}: {ours['req_s'] / theirs['req_s']:.2f}x req/s, "
                f"p99 {ours['p99']:.1f} vs {theirs['p99']:.1f} ms"
            )


if __name__ == "__main__":
    main()

"""Serving speed: Relay's service against MLflow's own scoring server, on the same champion.

Both servers run as local subprocesses with one worker each, and the same asyncio client drives them on
127.0.0.1: single-record requests at concurrency 1 and 16, then batches of 1,000 records. Relay's service
logs every prediction (as in production); MLflow's server logs nothing. The floors are the champion's
own `predict_proba` in this process, for one record and for 1,000.

Needs a champion in the configured MLflow store (run `make demo` first). Every process started here is
stopped by its PID at the end; each load run is bounded by its request count.

    .venv/bin/python benchmarks/serving.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
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


async def drive(url: str, body: dict[str, Any], concurrency: int, total: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    per_worker = total // concurrency

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for _ in range(per_worker):
            started = time.perf_counter()
            try:
                r = await client.post(url, json=body)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for _ in range(min(20, total)):  # warm-up: connections, first-call costs
            await client.post(url, json=body)
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "req_s": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "errors": errors,
    }


FLOORS = """
import json, sys, time
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
print(json.dumps(out))
"""


def floors(tracking_uri: str, model_uri: str, record: dict[str, Any]) -> tuple[float, float]:
    """The bare model's time for one record and for 1,000, in a process of its own: a model run in the
    client's process would leave OpenMP threads spinning there and slow the client down."""
    import json

    out = subprocess.run(
        [sys.executable, "-c", FLOORS, tracking_uri, model_uri, json.dumps(record)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    one, thousand = json.loads(out.strip().splitlines()[-1])
    return float(one), float(thousand)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="single-record requests per load run")
    parser.add_argument("--batches", type=int, default=40, help="1,000-record batches per server")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from pipelines.flows.demo import stop_service
    from pipelines.settings import get_settings

    s = get_settings()
    record = s.contract.example_record()
    work = Path(tempfile.mkdtemp(prefix="relay-serving-"))
    env = s.child_env() | {
        "RELAY_PREDICTION_LOG_URL": f"sqlite:///{work}/log.db",
        "RELAY_LOG_FORMAT": "text",
        "MLFLOW_TRACKING_URI": s.tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    ours_port, mlflow_port = free_port(), free_port()
    procs = {
        "relay": subprocess.Popen(
            # The installed `relay` script, not `python -m`: with -m the current folder's copy of the code
            # would shadow the installed one.
            [str(Path(sys.executable).parent / "relay"), "serve", "--port", str(ours_port)],
            env=env,
            cwd=s.root,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "relay.log", "wb"),  # noqa: SIM115
        ),
        "mlflow": subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                f"models:/{s.model_name}@champion",
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(mlflow_port),
                "-w",
                "1",
            ],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "mlflow.log", "wb"),  # noqa: SIM115
        ),
    }
    try:
        wait_ready(f"http://127.0.0.1:{ours_port}/health/ready", procs["relay"])
        wait_ready(f"http://127.0.0.1:{mlflow_port}/ping", procs["mlflow"])
        targets = {
            "relay": (
                f"http://127.0.0.1:{ours_port}/v1/predict",
                record,
                f"http://127.0.0.1:{ours_port}/v1/predict/batch",
                {"records": [record] * 1000},
            ),
            "mlflow": (
                f"http://127.0.0.1:{mlflow_port}/invocations",
                {"dataframe_records": [record]},
                f"http://127.0.0.1:{mlflow_port}/invocations",
                {"dataframe_records": [record] * 1000},
            ),
        }
        results: dict[tuple[str, str], dict[str, float]] = {}
        for name, (single_url, single, batch_url, batch) in targets.items():
            for conc in (1, 16):
                results[name, f"1 record, concurrency {conc}"] = asyncio.run(
                    drive(single_url, single, conc, args.requests)
                )
            r = asyncio.run(drive(batch_url, batch, 1, args.batches))
            r["records_s"] = r["req_s"] * 1000
            results[name, "1,000-record batches"] = r
    finally:
        for proc in procs.values():
            stop_service(proc)

    one_ms, thousand_ms = floors(s.tracking_uri, f"models:/{s.model_name}@champion", record)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"floor: predict_proba of 1 record {one_ms:.2f} ms, of 1,000 records {thousand_ms:.2f} ms")
    print(f"{'server':<7} | {'load':<26} | {'req/s':>8} | {'records/s':>10} | {'p50 ms':>7} | {'p99 ms':>7} | errors")
    print(f"{'-' * 7}-+-{'-' * 26}-+-{'-' * 8}-+-{'-' * 10}-+-{'-' * 7}-+-{'-' * 7}-+-------")
    for (name, load), r in results.items():
        records = r.get("records_s", r["req_s"])
        print(
            f"{name:<7} | {load:<26} | {r['req_s']:>8.0f} | {records:>10.0f} | {r['p50']:>7.1f} | {r['p99']:>7.1f} | "
            f"{int(r['errors'])}"
        )
    for load in ("1 record, concurrency 1", "1 record, concurrency 16", "1,000-record batches"):
        ours, theirs = results["relay", load], results["mlflow", load]
        ratio = ours["req_s"] / theirs["req_s"]
        print(f"relay / mlflow, {load}: {ratio:.2f}x req/s, p99 {ours['p99']:.1f} vs {theirs['p99']:.1f} ms")


if __name__ == "__main__":
    main()

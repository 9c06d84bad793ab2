"""Answered but never logged: what kill -9 of the prediction service loses in each RELAY_PREDICTION_LOG_ACK mode.

Each run starts Relay's service (in a process group of its own) on the configured champion with a fresh
SQLite prediction log, drives it from 16 keep-alive clients posting one record each, and sends SIGKILL to
the service's PID after `--seconds`. The orphaned log writer writes what had reached it and exits; the
group is killed after 30 s at most. Then the request ids answered 200 are compared with those in the log.
The loss window is the time from the first lost answer to the kill: how much traffic a crash costs.

Needs a champion in the configured MLflow store (run `make demo` first). Every process started here is
stopped by its PID or its process group; each run is bounded by `--seconds`.

    .venv/bin/python benchmarks/kill9.py [--runs 3] [--seconds 3] [--modes fast,durable]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIENTS = 16


def answers_until_killed(port: int, body: bytes, answered: list[tuple[float, str]], stop: threading.Event) -> None:
    """One client: POST until the connection fails; (time answered, request id) of every 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    while not stop.is_set():
        try:
            conn.request("POST", "/v1/predict", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            return
        if response.status == 200:
            answered.append((time.monotonic(), json.loads(payload)["request_id"]))


def one_run(mode: str, seconds: float, root: Path, env: dict[str, str], work: Path) -> dict[str, float]:
    from benchmarks.serving import free_port, wait_ready
    from pipelines.core.prediction_log import read_window
    from pipelines.core.settings import Settings

    s = Settings(root=root)
    port = free_port()
    log_url = f"sqlite:///{work}/{mode}-{port}.db"
    relay = Path(sys.executable).parent / "relay"
    with open(work / f"{mode}-{port}.log", "wb") as out:
        proc = subprocess.Popen(
            [str(relay), "serve", "--port", str(port)],
            env=env | {"RELAY_PREDICTION_LOG_URL": log_url, "RELAY_PREDICTION_LOG_ACK": mode},
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=out,
            start_new_session=True,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/health/ready", proc)
        body = json.dumps(s.contract.example_record()).encode()
        answered: list[tuple[float, str]] = []  # list.append is atomic: the clients share it
        stop = threading.Event()
        clients = [
            threading.Thread(target=answers_until_killed, args=(port, body, answered, stop), daemon=True)
            for _ in range(CLIENTS)
        ]
        for c in clients:
            c.start()
        started = time.monotonic()
        time.sleep(seconds)
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        for c in clients:
            c.join(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the orphaned writer finishes what reached it, then exits
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    logged = set(read_window(log_url, s.contract, 10_000_000)["request_id"])
    lost = [t for t, rid in answered if rid not in logged]
    return {
        "answered": len(answered),
        "lost": len(lost),
        "window_ms": (killed_at - min(lost)) * 1000 if lost else 0.0,
        "req_s": len(answered) / (killed_at - started),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="kills per mode")
    parser.add_argument("--seconds", type=float, default=3.0, help="load before each kill")
    parser.add_argument("--modes", default="fast,durable", help="RELAY_PREDICTION_LOG_ACK values to try")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from pipelines.core.settings import get_settings

    s = get_settings()
    work = Path(tempfile.mkdtemp(prefix="relay-kill9-"))
    env = s.child_env() | {"RELAY_LOG_FORMAT": "text"}
    print(f"{'mode':<8} | {'run':>3} | {'answered':>8} | {'lost':>5} | {'lost %':>6} | {'window ms':>9} | req/s")
    for mode in args.modes.split(","):
        for run in range(1, args.runs + 1):
            r = one_run(mode, args.seconds, s.root, env, work)
            share = 100 * r["lost"] / max(1, r["answered"])
            print(
                f"{mode:<8} | {run:>3} | {r['answered']:>8.0f} | {r['lost']:>5.0f} | {share:>6.1f} | "
                f"{r['window_ms']:>9.0f} | {r['req_s']:.0f}",
                flush=True,
            )
    print(f"logs in {work}")


if __name__ == "__main__":
    main()

"""Sweeps on real clusters (the experiments part): a Dask scheduler with two worker processes and a Ray head,
started here on 127.0.0.1, run the trials through prefect-dask and prefect-ray; every trial runs on a worker
of the cluster, and the best trial is the one the local runner finds for the same seed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from pipelines.flows.common import free_port
from tests.integration.test_experiments import _client

# A cluster that cannot take the trials makes the sweep wait: bounded well below pytest's 600 s default.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
BIN = Path(sys.executable).parent
RAY_OPTIONS = ("--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats")


def _start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A cluster process in a session of its own, so that it and every process it spawns stop together."""
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group started above, SIGKILL to what is left after five seconds."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()  # reaps the group's leader: a zombie would keep the group alive
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def _cluster_processes(group: int) -> Iterator[set[int]]:
    """The processes of the cluster started in process group `group`, seen while the block runs: Ray's
    workers have process groups of their own, but their parent, the raylet, is in the head's."""
    seen: set[int] = set()
    done = threading.Event()

    def stat(pid: str) -> list[str]:
        # /proc/<pid>/stat: "pid (command) state ppid pgrp ..."; the command may hold spaces and parentheses.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    def watch() -> None:
        while not done.wait(0.2):
            for entry in Path("/proc").iterdir():
                with suppress(OSError, IndexError):
                    ppid = stat(entry.name)[1]
                    if entry.name.isdigit() and int(stat(ppid)[2]) == group:
                        seen.add(int(entry.name))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


def _sweep(runner: str, address: str = "") -> dict[str, Any]:
    from pipelines.flows.sweep import run_sweep

    return run_sweep(trials=2, parallel=2, runner=runner, address=address)


def _trial_pids(root: Path, result: dict[str, Any]) -> set[int]:
    query = f"tags.`mlflow.parentRunId` = '{result['parent_run_id']}'"
    return {
        int(r.data.tags["relay.sweep.worker_pid"]) for r in _client(root).search_runs([result["experiment_id"]], query)
    }


@pytest.fixture
def local_best(in_workspace: Path) -> tuple[int, float]:
    result = _sweep("threads")
    return result["best"]["index"], result["best"]["metrics"]["roc_auc"]


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    port = free_port()
    local = ["--host", "127.0.0.1", "--no-dashboard"]
    scheduler = _start([str(BIN / "dask"), "scheduler", "--port", str(port), *local], tmp_path / "sched.log")
    workers = _start(
        [str(BIN / "dask"), "worker", f"tcp://127.0.0.1:{port}", "--nworkers", "2", "--nthreads", "1", *local],
        tmp_path / "workers.log",
    )
    try:
        _wait_for_port(port, scheduler, tmp_path / "sched.log")
        yield f"tcp://127.0.0.1:{port}", [scheduler, workers]
    finally:
        _stop(workers)
        _stop(scheduler)


def test_a_sweep_runs_on_a_dask_cluster(
    in_workspace: Path, local_best: tuple[int, float], dask_cluster: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    from distributed import Client

    address, _ = dask_cluster
    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=90)
        worker_pids = {int(pid) for pid in client.run(os.getpid).values()}
    result = _sweep("dask", address)
    assert result["failed"] == 0 and len(result["trials"]) == 3
    assert _trial_pids(in_workspace, result) <= worker_pids  # every trial on a worker of the cluster
    assert (result["best"]["index"], result["best"]["metrics"]["roc_auc"]) == local_best


def test_a_sweep_runs_on_a_ray_cluster(
    in_workspace: Path, local_best: tuple[int, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    # Token authentication, as docs/experiments.md starts a head: the head and the sweep share a token. Without
    # RAY_AUTH_MODE, `ray start` turns it on by itself whenever ~/.ray/auth_token exists (any local Ray cluster
    # writes one), while a client given an address never does, and is refused.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}
    for name, value in auth.items():
        monkeypatch.setenv(name, value)
    # Ray would advertise and bind the machine's network address; the test's cluster stays on 127.0.0.1.
    env = os.environ | auth | {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    head = _start(
        [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", *RAY_OPTIONS],
        tmp_path / "head.log",
        env=env,
    )
    try:
        _wait_for_port(port, head, tmp_path / "head.log")
        with _cluster_processes(head.pid) as seen:
            result = _sweep("ray", f"127.0.0.1:{port}")
        assert result["failed"] == 0 and len(result["trials"]) == 3
        # Every trial ran in a worker process the cluster started (Ray ends a job's workers with the job).
        assert _trial_pids(in_workspace, result) <= seen
        assert (result["best"]["index"], result["best"]["metrics"]["roc_auc"]) == local_best
    finally:
        _stop(head)
        # `ray start` named this cluster in Ray's temporary folder for later `ray.init()` calls to join; it
        # is gone now, so is the note (`ray stop` would remove it, but stops every Ray cluster of the user's).
        note = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        with suppress(OSError):
            if note.read_text().strip() == f"127.0.0.1:{port}":
                note.unlink()

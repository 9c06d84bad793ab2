"""The real service (uvicorn in a subprocess) under bounded load on 127.0.0.1: a champion swap fails no
request, SIGTERM loses no answered prediction, and neither does SIGKILL with RELAY_PREDICTION_LOG_ACK=durable
or a restart of the log's PostgreSQL. Each load run stops by itself after a few seconds."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipelines.core.prediction_log import read_window
from pipelines.core.settings import Settings
from pipelines.flows.common import free_port
from pipelines.flows.service import wait_until_ready
from tests.helpers import ORDERS

pytestmark = pytest.mark.integration
CLIENTS = 8


@pytest.fixture
def workspace_copy(trained_workspace: Path, tmp_path: Path) -> Path:
    """Its own registry and log, so moving the champion here touches no other test."""
    ws = tmp_path / "ws"
    shutil.copytree(trained_workspace, ws, symlinks=True)
    return ws


def _serve(root: Path, tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    log_url = f"sqlite:///{tmp_path}/log.db"
    child = Settings(root=root).child_env() | {"RELAY_PREDICTION_LOG_URL": log_url, **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli.main", "serve", "--port", str(port)],
        env=child,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "api.log", "wb"),  # noqa: SIM115 (closed with the process)
        start_new_session=True,  # its own process group: a test can kill the service and its log writer at once
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(proc, url, tmp_path / "api.log")
    return proc, url, log_url


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with contextlib.suppress(ProcessLookupError):  # the log writer, if it outlived the service
        os.killpg(proc.pid, signal.SIGKILL)


class Load:
    """CLIENTS threads posting one record each (or batches of `records`), in a loop, until told to stop or
    `seconds` pass."""

    def __init__(self, url: str, seconds: float, records: int = 1) -> None:
        self.url, self.deadline = url, time.monotonic() + seconds
        one = ORDERS.example_record()
        batch = ("/v1/predict/batch", {"records": [one] * records})
        self.path, self.body = ("/v1/predict", one) if records == 1 else batch
        self.stop = threading.Event()
        self.ok: list[tuple[str, str]] = []  # (request id, model version) of answered requests
        self.failed: list[str] = []
        self.refused = 0  # connection refused or reset: the server had stopped listening
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                try:
                    r = client.post(self.path, json=self.body)
                except httpx.TransportError:
                    with self.lock:
                        self.refused += 1
                    return
                with self.lock:
                    if r.status_code == 200:
                        self.ok.append((r.json()["request_id"], r.json()["model_version"]))
                    else:
                        self.failed.append(f"{r.status_code} {r.text[:200]}")

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


@pytest.fixture
def second_version(workspace_copy: Path) -> Iterator[str]:
    """Version 2: the same model registered again, not yet champion."""
    from mlflow import MlflowClient

    from pipelines.core.lineage import configure_mlflow

    configure_mlflow(Settings(root=workspace_copy).tracking_uri)
    client = MlflowClient()
    v1 = client.get_model_version("relay-returns", "1")
    v2 = client.create_model_version("relay-returns", source=v1.source, run_id=v1.run_id, tags=v1.tags)
    yield str(v2.version)


def test_champion_swap_under_load_fails_no_request(workspace_copy: Path, second_version: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    proc, url, _ = _serve(workspace_copy, tmp_path, RELAY_RELOAD_INTERVAL_S="0.2")
    try:
        with Load(url, seconds=6) as load:
            time.sleep(1.5)
            MlflowClient().set_registered_model_alias("relay-returns", "champion", second_version)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and httpx.get(f"{url}/v1/model").json()["version"] != second_version:
                time.sleep(0.1)
            time.sleep(1.0)  # keep the load on after the swap
    finally:
        _stop(proc)
    versions = {v for _, v in load.ok}
    assert load.failed == [] and load.refused == 0
    assert versions == {"1", second_version}, "the swap did not happen while requests were flowing"
    assert len(load.ok) > 50


def test_sigterm_under_load_loses_no_answered_prediction(workspace_copy: Path, tmp_path: Path) -> None:
    proc, url, log_url = _serve(workspace_copy, tmp_path)
    try:
        with Load(url, seconds=8) as load:
            time.sleep(2.0)
            proc.send_signal(signal.SIGTERM)  # requests are in flight right now
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        _stop(proc)
    answered = {rid for rid, _ in load.ok}
    logged = read_window(log_url, ORDERS, 100_000)
    assert load.failed == [] and len(answered) > 20
    assert answered <= set(logged["request_id"]), "an answered prediction is missing from the log"
    assert len(logged) == len(answered)  # nothing logged that was not answered either


def test_sigkill_under_load_loses_no_answered_prediction_when_durable(workspace_copy: Path, tmp_path: Path) -> None:
    """RELAY_PREDICTION_LOG_ACK=durable: the service and its log writer are killed at once (kill -9 of the
    process group), and every request answered 200 before has all its rows in the log."""
    proc, url, log_url = _serve(workspace_copy, tmp_path, RELAY_PREDICTION_LOG_ACK="durable")
    try:
        with Load(url, seconds=8, records=3) as load:
            time.sleep(3.0)
            os.killpg(proc.pid, signal.SIGKILL)  # requests are in flight right now
            proc.wait(timeout=30)
    finally:
        _stop(proc)
    answered = [rid for rid, _ in load.ok]
    rows_per_request = read_window(log_url, ORDERS, 1_000_000)["request_id"].value_counts()
    unlogged = [rid for rid in answered if rows_per_request.get(rid, 0) != 3]
    assert load.failed == [] and load.refused > 0 and len(answered) > 20
    assert unlogged == [], f"{len(unlogged)} of {len(answered)} answered requests are not (wholly) in the log"


def test_a_stopped_service_leaves_no_leaked_semaphores(trained_workspace: Path, tmp_path: Path) -> None:
    """multiprocessing's resource tracker warns about semaphores a process left behind; uvicorn ends the
    service by re-raising SIGTERM, so nothing may rely on exit handlers to release them."""
    child = Settings(root=trained_workspace).child_env() | {"RELAY_PREDICTION_LOG_URL": f"sqlite:///{tmp_path}/log.db"}
    port = free_port()
    cmd = [sys.executable, "-m", "pipelines.cli.main", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=child, cwd=trained_workspace, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        assert httpx.post(f"http://127.0.0.1:{port}/v1/predict", json=ORDERS.example_record()).status_code == 200
        proc.send_signal(signal.SIGTERM)
        # Read to the end of stderr: that waits for the resource tracker too, which writes after the service.
        _, err = proc.communicate(timeout=60)
    finally:
        _stop(proc)
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]
    assert b"leaked" not in err and b"resource_tracker" not in err, err.decode()[-2000:]


@pytest.fixture
def postgres_cluster() -> Iterator[tuple[str, list[str]]]:
    """A PostgreSQL cluster of its own on 127.0.0.1 and a free port, so restarting it touches nobody else:
    its URL and the pg_ctl command line (run as the `postgres` user when the tests run as root, since
    initdb refuses root). Stopped and removed afterwards."""
    import glob
    import pwd
    import tempfile

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
    if not found[-1]:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine: apt-get install postgresql")
    bin_dir = Path(found[-1]).parent
    as_user: list[str] = []
    data = Path(tempfile.mkdtemp(prefix="relay-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user for initdb")
        os.chown(data, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "server.log"), "-w"]
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    initdb = [*as_user, str(bin_dir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres", "--no-sync"]
    subprocess.run(initdb, check=True, capture_output=True, timeout=120)
    subprocess.run([*pg_ctl, "-o", options, "start"], check=True, capture_output=True, timeout=60)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", [*pg_ctl, "-o", options]
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=False, capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def test_postgres_restart_under_load_loses_no_answered_prediction(
    workspace_copy: Path, tmp_path: Path, postgres_cluster: tuple[str, list[str]]
) -> None:
    """The log's database goes away for a while under load: rows are kept and retried, /health/ready says why
    meanwhile and recovers on its own, and after a clean stop every answered prediction is in the log."""
    log_url, pg_ctl = postgres_cluster
    proc, url, _ = _serve(workspace_copy, tmp_path, RELAY_PREDICTION_LOG_URL=log_url)

    def readiness(status: int) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = httpx.get(f"{url}/health/ready", timeout=5)
            if r.status_code == status:
                return str(r.json().get("reason", ""))
            time.sleep(0.1)
        raise AssertionError(f"/health/ready did not answer {status} within 30 s")

    try:
        with Load(url, seconds=60) as load:
            time.sleep(1.5)
            subprocess.run([*pg_ctl, "-m", "fast", "stop"], check=True, capture_output=True, timeout=60)
            reason = readiness(503)
            answered_during_outage = len(load.ok)
            time.sleep(1.0)
            answered_during_outage = len(load.ok) - answered_during_outage
            subprocess.run([*pg_ctl, "start"], check=True, capture_output=True, timeout=60)
            readiness(200)
            time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        _stop(proc)
    answered = {rid for rid, _ in load.ok}
    logged = read_window(log_url, ORDERS, 1_000_000)
    assert "prediction log unreachable" in reason
    assert load.failed == [] and load.refused == 0 and answered_during_outage > 0
    assert answered <= set(logged["request_id"]), f"{len(answered - set(logged['request_id']))} answered, not logged"
    assert len(logged) == len(answered)


def test_promotion_notice_switches_at_once(workspace_copy: Path, second_version: str, tmp_path: Path) -> None:
    """With a poll interval of an hour, only the notice (POST /v1/model/reload) can make the switch."""
    from mlflow import MlflowClient

    from pipelines.release.notify import notify_services

    proc, url, _ = _serve(workspace_copy, tmp_path, RELAY_RELOAD_INTERVAL_S="3600", RELAY_API_KEY="s3cret")
    try:
        MlflowClient().set_registered_model_alias("relay-returns", "champion", second_version)
        refused, unreachable = notify_services([url, f"http://127.0.0.1:{free_port()}"], timeout_s=5)
        assert refused.error is not None and "HTTP 401" in refused.error
        assert unreachable.error is not None and "unreachable" in unreachable.error
        assert "next poll" in unreachable.describe()
        assert httpx.get(f"{url}/v1/model", headers={"X-API-Key": "s3cret"}).json()["version"] == "1"
        [told] = notify_services([url], api_key="s3cret")
        assert told.error is None and told.serving == second_version
        r = httpx.post(f"{url}/v1/predict", json=ORDERS.example_record(), headers={"X-API-Key": "s3cret"})
        assert r.json()["model_version"] == second_version
    finally:
        _stop(proc)

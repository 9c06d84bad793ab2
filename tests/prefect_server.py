"""One Prefect server for a whole test run, as a team's CI would configure one (PREFECT_API_URL).

Without it every `relay pipeline` or `relay monitor` a test runs starts a server of its own, and every test
process that runs a flow starts Prefect's temporary server: each start costs 4 s of CPU, 7 to 10 s on a fresh
workspace, whose database Prefect creates and migrates. The run's server lives on PostgreSQL when the test
database server answers (many workers write to it at once), else on SQLite in a temporary folder. Tests of the
servers Relay starts itself (tests/integration/test_command_server.py, the demo) take PREFECT_API_URL out of
their commands' environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

try:  # the services a server for flow runs alone need not run (the prefect-server part's list)
    from pipelines.flows.prefect_api import IDLE_SERVICES_OFF
except ImportError:  # a project made without the part: the test run's server runs every service
    IDLE_SERVICES_OFF = {}

POSTGRES = os.environ.get("RELAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
# Set to the server's URL by the process that started it: test processes wait for that server only.
SHARED_MARK = "TESTS_SHARED_PREFECT_URL"


def wait_for(api_url: str, timeout: float = 180) -> None:
    started = time.monotonic()
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the test run's Prefect server at {api_url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)


@dataclass
class SharedServer:
    process: subprocess.Popen[bytes]
    api_url: str
    folder: Path
    database: str | None  # the PostgreSQL database made for this run, dropped at the end

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.database:
            with contextlib.suppress(Exception):
                _admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        shutil.rmtree(self.folder, ignore_errors=True)


def _admin(statement: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def _die_with_parent() -> None:
    """In the server's process: get SIGTERM when pytest dies, however it dies (Linux's PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def start() -> SharedServer:
    """Start the run's server on a free port of 127.0.0.1; returns at once (`wait_ready` waits)."""
    import socket

    folder = Path(tempfile.mkdtemp(prefix="relay-prefect-"))
    env = os.environ | IDLE_SERVICES_OFF | {"PREFECT_HOME": str(folder)}
    database: str | None = f"relay_prefect_{uuid.uuid4().hex[:8]}"
    try:
        _admin(f'CREATE DATABASE "{database}"')
        url = POSTGRES.replace("+psycopg", "+asyncpg")
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"{url}/{database}"
    except Exception:  # no PostgreSQL here: SQLite in the server's folder
        database = None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--no-ui"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads yet: pytest is configuring)
        )
    return SharedServer(process, f"http://127.0.0.1:{port}/api", folder, database)

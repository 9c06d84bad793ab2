"""A Prefect server of the command's own, for a command that runs several flows and has no PREFECT_API_URL.

Without an API URL every process that runs a flow starts Prefect's temporary server on first use: it imports
the server in-process (a second or two, holding the interpreter while the command's own start-up waits) and
then waits about five seconds for the server's process to answer. `relay demo` starts the same server
(`prefect server start`, Prefect's own command) as its first step instead, before it imports anything heavy,
so the server comes up on the other core while the demo resets the workspace and opens the MLflow store.
Like Prefect's temporary server it serves only this command: no UI, no scheduler, stopped when the command
ends. A user's configured server (PREFECT_API_URL in the environment or the active Prefect profile) is used
as it is; nothing is started then.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipelines.flows.common import free_port

# The server-side services Prefect's own temporary server does not run either: they look after deployments,
# workers, paused and cancelled runs, none of which a one-command server has. Left on, they poll the SQLite
# database every few seconds and collide with the flows' writes (Prefect retries a "busy" write after 2 s).
IDLE_SERVICES_OFF = {
    f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false"
    for name in (
        "SCHEDULER",
        "LATE_RUNS",
        "FOREMAN",
        "CANCELLATION_CLEANUP",
        "PAUSE_EXPIRATIONS",
        "REPOSSESSOR",
        "CLEANUP_RECONCILER",
    )
}


def configured_api_url() -> str | None:
    """The Prefect API the user configured (environment, profile or project settings), if any."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


@dataclass
class CommandServer:
    process: subprocess.Popen[bytes]
    api_url: str
    log_path: Path

    def _failure(self, what: str) -> RuntimeError:
        lines = self.log_path.read_text(errors="replace").strip().splitlines() if self.log_path.exists() else []
        last = lines[-1] if lines else "no output"
        return RuntimeError(f"Prefect's server for this command {what} ({last}); see {self.log_path}")

    def wait_ready(self, timeout: float = 180) -> float:
        """Wait until the server answers its health check; returns the seconds waited. 180 s is only a bound
        (as Relay sets for Prefect's own temporary server): a first start creates the database."""
        started = time.monotonic()
        with httpx.Client(timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    raise self._failure(f"exited with code {self.process.returncode}")
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > timeout:
                    raise self._failure(f"did not answer within {timeout:.0f} s")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_command_server(log_path: Path) -> CommandServer:
    """Start `prefect server start` on 127.0.0.1 and a free port; returns at once (see `wait_ready`)."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            # `python -m prefect` rather than the `prefect` script: the same interpreter and environment. The
            # flows of one command need the API and the services that record runs; no UI.
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
            env=os.environ | IDLE_SERVICES_OFF,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return CommandServer(process, f"http://127.0.0.1:{port}/api", log_path)


@contextmanager
def command_server(log_path: Path) -> Iterator[CommandServer | None]:
    """A server for this command unless the user configured one (then None); stopped when the block ends."""
    if configured_api_url():
        yield None
        return
    server = start_command_server(log_path)
    try:
        yield server
    finally:
        server.stop()

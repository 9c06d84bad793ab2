"""A Prefect server of the command's own, for a command that runs flows and has no PREFECT_API_URL.

Without an API URL every process that runs a flow starts Prefect's temporary server on first use: it imports
the server in-process (a second or two, holding the interpreter while the command's own start-up waits) and
then waits about five seconds for the server's process to answer. `relay pipeline`, `relay monitor`, `relay
retrain` and the demo start the same server (`prefect server start`, Prefect's own command) as their
first step instead, before they import anything heavy, so the server comes up on the other core while the
command imports its flows (and the demo resets the workspace and opens the MLflow store).
Like Prefect's temporary server it serves only this command: no UI, no scheduler, stopped when the command
ends. A user's configured server (PREFECT_API_URL in the environment or the active Prefect profile) is used
as it is; nothing is started then.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipelines.flows.common import flow_run_settings, free_port

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
                with contextlib.suppress(httpx.HTTPError):  # not listening yet
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return time.monotonic() - started
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
    """A server for this command unless the user configured one (then None); stopped when the block ends.

    PREFECT_API_URL in the environment is checked first, at no cost. A server named only in a Prefect profile
    or settings file takes importing Prefect's settings to find (about a second), so the command's server is
    started before that check and stopped again, unused, if the check finds one.
    """
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    server = start_command_server(log_path)
    try:
        from prefect.settings import PREFECT_API_URL  # the environment, a profile or project settings

        if PREFECT_API_URL.value():
            server.stop()
            yield None
        else:
            yield server
    finally:
        server.stop()


@contextmanager
def flows_reporting_to(server: CommandServer | None, preload: tuple[str, ...] = ()) -> Iterator[None]:
    """Run the block's flows against `server` (waiting for it to answer first), or, without one, as
    `flow_run_settings` decides (the user's configured server, or Prefect's temporary one).

    `preload` names modules the flows will import (MLflow, DVC, Evidently take a second or two each): they are
    imported before the wait, while the server is still starting on the other core, instead of after it.
    """
    for module in preload:
        importlib.import_module(module)
    if server is not None:
        server.wait_ready()
    with flow_run_settings(server.api_url if server else None):
        try:
            yield
        finally:
            if server is not None:
                _deliver_run_records()


def _deliver_run_records() -> None:
    """Send the run logs and events still queued to the command's server before it stops. Prefect sends them
    in the background and drains the queues only at interpreter exit, when this server is gone: the logs of a
    failed flow would then end in "Error logging to API" and a second of connection retries."""
    import logging

    from prefect.events.worker import EventsWorker

    for name in ("prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            handler.flush()
    EventsWorker.drain_all(timeout=5)

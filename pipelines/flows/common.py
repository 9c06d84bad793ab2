"""What every flow shares: console output that names owners, and the environment the tools need."""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

from pipelines.core.output import banner, console, note  # noqa: F401 (re-exported: every flow prints with them)
from pipelines.core.params import check_against
from pipelines.core.settings import Settings, apply_tool_env

# Wall time per stage across the flows of this process; the demo and Relay's demo benchmark report it.
STAGE_SECONDS: defaultdict[str, float] = defaultdict(float)


@contextmanager
def timed(stage_name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS[stage_name] += time.perf_counter() - started


def import_in_background(*modules: str) -> Future[list[ModuleType]]:
    """Import `modules` on a side thread (wait on the future before using them). For what a flow needs only
    after it has waited on subprocesses (DVC's stages): skops, MLflow's safe model format, spends some 3.5 s
    importing every scikit-learn module to list the types it trusts. pandas (and numpy with it), which both
    threads need, is imported first on the caller's thread, so that the two rarely wait on each other's imports.
    A failed import is raised by the future's `result()`, as the step needing it would raise it."""
    import pandas  # noqa: F401

    return ThreadPoolExecutor(1, "import").submit(lambda: [importlib.import_module(m) for m in modules])


def free_port() -> int:
    """A port on 127.0.0.1 that no one listens on now, for a server this command starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command_server(log_path: Path) -> AbstractContextManager[Any]:
    """Prefect's server for one command's flows (`pipelines.flows.prefect_api`, part of the prefect-server part),
    started first so it comes up while the command imports its flows. Yields the server, or None: the user's
    own server is configured, or the project was made without the part (its flows then run on Prefect's own
    temporary server)."""
    try:
        from pipelines.flows import prefect_api
    except ImportError:
        return nullcontext()
    return prefect_api.command_server(log_path)


def reporting_to(server: Any, preload: tuple[str, ...] = ()) -> AbstractContextManager[None]:
    """Run the block's flows against `server` from `command_server` (or, with None, where `flow_run_settings`
    says); `preload` names modules to import while the server starts."""
    if server is None:
        return flow_run_settings(None)
    from pipelines.flows.prefect_api import flows_reporting_to

    return flows_reporting_to(server, preload)


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry network and I/O hiccups, not mistakes a retry cannot fix
    (a missing champion, bad data, a contract violation)."""
    try:
        state.result()
    except (FileNotFoundError, PermissionError, KeyError, ValueError, TypeError):
        return False
    except Exception:
        return True
    return False


# The one retry policy for tasks that reach outside the process (DVC remote, MLflow registry and artifacts).
RETRY_TRANSIENT: dict[str, Any] = {"retries": 2, "retry_delay_seconds": 2, "retry_condition_fn": retry_if_transient}


def prepare_environment(settings: Settings) -> None:
    """Check that params.yaml fits the contract (its metrics and segments), let DVC's stage commands find this
    venv's `relay`, and quiet the tools' chatter.

    Settings are not exported: DVC runs stage commands in the project root, where they find the same
    settings, and the service subprocess gets `settings.child_env()` explicitly. Exporting would leak one
    workspace's settings into everything else this process does.
    """
    # Here, before a flow does anything: a metric the task lacks would otherwise fail at the gate after training.
    check_against(settings.params, settings.contract)
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    apply_tool_env()
    # MLflow's warning that a uv-made venv has no pip is noise too; real problems still come through.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    # A failing task re-raises into the CLI, which prints one clear line; Prefect's console copy of the
    # traceback would bury it. Only the console handler is filtered: run logs still reach the Prefect API.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _HideRunFailuresOnConsole) for f in handler.filters):
            handler.addFilter(_HideRunFailuresOnConsole())


@contextmanager
def flow_run_settings(command_api_url: str | None = None) -> Iterator[None]:
    """Prefect settings for the flows a `relay` command runs in this process.

    Without PREFECT_API_URL the flows report to a server that lives only as long as this command: Prefect's
    temporary server, or the one the command started for itself (`command_api_url`, see
    `pipelines.flows.prefect_api`). Flow-run heartbeats exist so that a server can mark a run whose process
    died as crashed; such a server dies with the process, so no one could read them, yet every flow run waits
    up to a second for its heartbeat thread as it ends (about 5 s of the demo's seven runs). They are switched
    off for those servers only; a configured server gets them as Prefect configures them.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if not command_api_url and PREFECT_API_URL.value():  # a configured server: left as Prefect configures it
        yield
        return
    updates: dict[Any, Any] = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if command_api_url:
        updates[PREFECT_API_URL] = command_api_url
    with temporary_settings(updates=updates):
        yield


class _HideRunFailuresOnConsole(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        run_logger = record.name.startswith(("prefect.flow_runs", "prefect.task_runs"))
        return not (run_logger and record.levelno >= logging.ERROR)

"""`relay deploy` and `relay prefect up|down|status` (owner: MLOps engineer).

Flows run with no Prefect server by default (Prefect starts a temporary one per process). Schedules need a
real server: `relay prefect up` starts one on 127.0.0.1 with its database under `local/prefect-server/`,
and `relay deploy` serves the monitoring flow on a cron schedule and the training and retraining flows on
demand from this process (Prefect's `serve`), so no work pool or worker is needed on a laptop.

This module is the "Prefect server" part of the template: a project made with `relay new --no-prefect-server`
leaves it out, and its flows still run, each with a temporary server.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.console import console, err, friendly_errors, quiet_tools

app = typer.Typer(help="A local Prefect server for scheduled deployments.", no_args_is_help=True)

# Deployment names, as `prefect deployment run <flow>/<deployment>` and the Prefect UI show them.
SCHEDULED = "scheduled"
ON_DEMAND = "on-demand"


def _server_dir() -> Path:
    from pipelines.core.settings import get_settings

    return get_settings().local_dir / "prefect-server"


def _pid_file() -> Path:
    return _server_dir() / "server.pid"


def _started(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[19]


def _recorded() -> tuple[int, int, str] | None:
    """(PID, port, start time) from the PID file `up` wrote, if there is one."""
    try:
        pid, port, started = _pid_file().read_text().split()
        return int(pid), int(port), started
    except (OSError, ValueError):
        return None


def _running_pid() -> int | None:
    """The PID of the server `relay prefect up` started, if that very process still runs."""
    found = _recorded()
    if found is None:
        return None
    pid, _, started = found
    try:
        # A PID is reused once its process has gone; the start time tells the one we started from any other.
        return pid if _started(pid) == started else None
    except (OSError, IndexError):
        return None


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@app.command("up")
@friendly_errors
def up(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 4200,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait until the server is healthy.")] = 90,
) -> None:
    """Start a Prefect server on 127.0.0.1 in the background (database in local/prefect-server/)."""
    quiet_tools()
    home = _server_dir()
    home.mkdir(parents=True, exist_ok=True)
    with (home / "up.lock").open("w") as lock:
        try:
            # Two `up` at once: one starts the server, the other says so, and no server is left without its PID.
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another `relay prefect up` is starting a server in {home}") from None
        _start_server(home, port, timeout)


def _start_server(home: Path, port: int, timeout: float) -> None:
    if (pid := _running_pid()) is not None and (found := _recorded()) is not None:
        console.print(
            f"a Prefect server started by relay already runs (PID {pid}); "
            f"export PREFECT_API_URL=http://127.0.0.1:{found[1]}/api"
        )
        return
    url = f"http://127.0.0.1:{port}/api"
    if _healthy(url):
        raise RuntimeError(f"something already answers at {url}; use it (export PREFECT_API_URL={url}) or --port")
    log = home / "server.log"
    prefect = Path(sys.executable).parent / "prefect"
    env = os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)  # the server must not try to report to another server
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in this terminal later must not stop it
        )
    _pid_file().write_text(f"{proc.pid} {port} {_started(proc.pid)}\n")
    started = time.monotonic()
    while not _healthy(url):
        if proc.poll() is not None:
            _pid_file().unlink(missing_ok=True)
            raise RuntimeError(f"the Prefect server exited with code {proc.returncode}; see {log}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(
                f"the Prefect server (PID {proc.pid}) was not healthy within {timeout:.0f} s; see {log}, "
                "and stop it with `relay prefect down`"
            )
        time.sleep(0.5)
    console.print(f"Prefect server PID {proc.pid} healthy at {url} in {time.monotonic() - started:.1f} s (log {log})")
    console.print(f"UI: http://127.0.0.1:{port}   next: export PREFECT_API_URL={url} && relay deploy")


@app.command("down")
@friendly_errors
def down() -> None:
    """Stop the Prefect server `relay prefect up` started (by its PID)."""
    pid = _running_pid()
    if pid is None:
        _pid_file().unlink(missing_ok=True)
        console.print("no Prefect server started by relay is running")
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if _running_pid() is None:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"the Prefect server (PID {pid}) did not stop within 10 s; stop it with kill {pid}")
    _pid_file().unlink(missing_ok=True)
    console.print(f"stopped the Prefect server (PID {pid})")


@app.command("status")
@friendly_errors
def status() -> None:
    """Say whether the server runs and which API the flows report to."""
    pid = _running_pid()
    api = os.environ.get("PREFECT_API_URL", "")
    console.print(f"server started by relay: {f'PID {pid}' if pid else 'not running'}")
    console.print(f"PREFECT_API_URL: {api or '(unset: each flow run starts a temporary server)'}")
    if api and not _healthy(api):
        err.print(f"[yellow]warning:[/] nothing healthy answers at {api}")


def _tags(stage: str) -> list[str]:
    """Owner first: the Prefect UI shows the first tags of a deployment and folds the rest into "+N"."""
    from pipelines.core.ownership import prefect_tags

    return [*sorted(prefect_tags(stage), key=lambda t: not t.startswith("owner:")), "relay"]


def deployments(monitor_cron: str, training_cron: str | None, timezone: str) -> list[object]:
    """The Relay deployments: monitoring on a schedule, training and retraining on demand (or on a schedule)."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from pipelines.flows.monitoring import monitoring_flow
    from pipelines.flows.retraining import retraining_flow
    from pipelines.flows.training import training_flow

    # Module entrypoints: the served process imports the installed package, not a file path that moves.
    module = EntrypointType.MODULE_PATH
    return [
        monitoring_flow.to_deployment(
            name=SCHEDULED,
            schedule=Cron(monitor_cron, timezone=timezone),
            tags=_tags("monitor"),
            description="Drift and model quality against the champion; retrains when called for.",
            entrypoint_type=module,
        ),
        training_flow.to_deployment(
            name=SCHEDULED if training_cron else ON_DEMAND,
            schedule=Cron(training_cron, timezone=timezone) if training_cron else None,
            parameters={"trigger": "scheduled" if training_cron else "manual"},
            tags=_tags("train"),
            description="dvc repro → push → MLflow → promotion gate, on the newest data.",
            entrypoint_type=module,
        ),
        retraining_flow.to_deployment(
            name=ON_DEMAND,
            tags=_tags("retrain"),
            description="Act on the newest monitor decision: train on new labels, gate the challenger.",
            entrypoint_type=module,
        ),
    ]


def check_schedule(cron: str, timezone: str, option: str) -> None:
    """Validate a cron schedule as Prefect will (its cron parser and time zone list), naming the option."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValidationError as exc:
        problem = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise typer.BadParameter(f"{cron!r} with time zone {timezone!r}: {problem}", param_hint=option) from None


def check_pool_name(pool: str) -> None:
    """Refuse a work pool name Prefect would refuse, before anything starts."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from pydantic import ValidationError

    try:
        WorkPoolCreate(name=pool, type="process")
    except ValidationError as exc:
        problem = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise typer.BadParameter(f"{pool!r}: {problem}", param_hint="--pool") from None


def deploy(
    cron: Annotated[str, typer.Option(help="When the monitoring flow runs (cron, five fields).")] = "0 * * * *",
    training_cron: Annotated[
        str | None,
        typer.Option(help="Also train on a schedule (trigger 'scheduled'); default: training on demand only."),
    ] = None,
    timezone: Annotated[str, typer.Option(help="Time zone of the cron schedules.")] = "UTC",
    limit: Annotated[int, typer.Option(min=1, help="Flow runs at once in this process.")] = 1,
    pool: Annotated[
        str | None,
        typer.Option(
            help="Register the deployments to this Prefect process work pool (made if missing) and return; "
            "`prefect worker start --pool NAME`, started in the project, runs them."
        ),
    ] = None,
) -> None:
    """Serve Relay's flows as Prefect deployments from this process: monitoring on a cron schedule, training and
    retraining on demand (Ctrl-C stops); with --pool, register them to a work pool whose workers run them
    instead. Needs a Prefect server (PREFECT_API_URL; `relay prefect up` starts one)."""
    quiet_tools()
    check_schedule(cron, timezone, "--cron")
    if training_cron is not None:
        check_schedule(training_cron, timezone, "--training-cron")
    if pool is not None:
        check_pool_name(pool)
    api = os.environ.get("PREFECT_API_URL") or _profile_api_url()
    if not api:
        raise RuntimeError(
            "schedules need a Prefect server, and PREFECT_API_URL is not set: start one with `relay prefect up`, "
            "then export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    if not _healthy(api):
        raise RuntimeError(f"no Prefect server answers at {api}; start it (`relay prefect up`) or fix PREFECT_API_URL")
    from prefect import serve

    from pipelines.core.settings import get_settings
    from pipelines.flows.common import prepare_environment

    s = get_settings()
    if pool is not None:
        names = register_to_pool(pool, deployments(cron, training_cron, timezone), s.root)
        console.print(
            f"registered {', '.join(names)} to work pool '{pool}' at {api}; monitoring on '{cron}' ({timezone})"
        )
        console.print(
            f"run them: [bold]prefect worker start --pool {pool}[/] (in this project, with PREFECT_API_URL set)"
        )
        return
    prepare_environment(s)  # the served flow runs are child processes: they inherit PATH and quiet
    console.print(f"serving Relay's deployments against {api}; monitoring on '{cron}' ({timezone}); Ctrl-C stops")
    serve(*deployments(cron, training_cron, timezone), limit=limit)  # type: ignore[arg-type]


def register_to_pool(pool: str, found: list[Any], root: Path) -> list[str]:
    """Register `found` (from `deployments`) to the process work pool `pool`, making the pool if it is missing;
    returns the deployments' names. Their flow runs start in `root`, where the settings and dvc.yaml are, in a
    worker's process: module entrypoints, so nothing is uploaded and the worker imports the installed project."""
    from prefect import deploy as register
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            kind = client.read_work_pool(pool).type
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            kind = client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template)).type
    if kind != "process":
        raise RuntimeError(
            f"work pool '{pool}' is a {kind} pool; `relay deploy --pool` registers to process pools "
            "(docs/monitoring.md shows how to deploy to Docker and Kubernetes pools)"
        )
    for deployment in found:
        deployment.job_variables = {"working_dir": str(root)}
    register(*found, work_pool_name=pool, build=False, push=False, print_next_steps_message=False, ignore_warnings=True)
    return [f"{d.flow_name}/{d.name}" for d in found]


def _profile_api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value() or "")

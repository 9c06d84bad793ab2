"""`relay prefect up`, `relay deploy --pool` and a process work pool's worker running the deployments' flow runs
(one on the cron schedule, one on demand), on a real local Prefect server (127.0.0.1 only).

The server and the worker are started by this module and stopped by their PIDs at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pipelines.core.settings import Settings
from pipelines.flows.common import free_port
from pipelines.flows.service import stop_service

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

pytestmark = pytest.mark.integration
RELAY = str(Path(sys.executable).parent / "relay")
POOL = "relay-local"


def relay(ws: Path, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RELAY, *args], cwd=ws, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def ws(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained workspace whose champion has served a week of orders, so a monitoring run can judge it."""
    from pipelines.core.prediction_log import PredictionLogWriter, now_utc
    from pipelines.data.generator import generate_batch

    dest = tmp_path_factory.mktemp("deploy") / "ws"
    shutil.copytree(trained_workspace, dest, symlinks=True)
    s = Settings(root=dest)
    features = generate_batch(4, 600, 42, with_label=False)[s.contract.feature_columns()]
    records = cast(list[dict[str, Any]], features.astype(object).where(features.notna(), None).to_dict("records"))
    writer = PredictionLogWriter(s.prediction_log, s.contract)
    meta = {"request_id": "week-4", "ts": now_utc(), "model_version": "1", "latency_ms": 1.0}
    writer.log_predictions(records, [0.3] * len(records), [False] * len(records), **meta)
    assert writer.close() == 0
    return dest


@pytest.fixture(scope="module")
def env(ws: Path) -> dict[str, str]:
    e = Settings(root=ws).child_env() | {"PREFECT_HOME": str(ws / "local" / "prefect")}
    for key in ("PREFECT_API_URL", "RELAY_DEBUG"):
        e.pop(key, None)
    return e


def plain(text: str) -> str:
    """Typer's error panel as one line of words (it draws a box and wraps to the terminal's width)."""
    return " ".join(text.replace("│", " ").split())


def test_deploy_refuses_bad_schedules_and_a_missing_server(ws: Path, env: dict[str, str]) -> None:
    bad = relay(ws, "deploy", "--cron", "61 * * * *", env=env)
    assert bad.returncode == 2 and "Invalid cron string" in plain(bad.stderr) and "--cron" in bad.stderr
    zone = relay(ws, "deploy", "--timezone", "Mars/Base", env=env)
    assert zone.returncode == 2 and "Invalid timezone" in plain(zone.stderr)
    pool = relay(ws, "deploy", "--pool", "team/a", env=env)
    assert pool.returncode == 2 and "--pool" in pool.stderr and "'team/a'" in plain(pool.stderr)
    alone = relay(ws, "deploy", env=env)
    assert alone.returncode == 1 and "schedules need a Prefect server" in alone.stderr
    assert "relay prefect up" in alone.stderr and "Traceback" not in alone.stderr


@pytest.fixture(scope="module")
def served(ws: Path, env: dict[str, str]) -> Iterator[dict[str, Any]]:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    up = relay(ws, "prefect", "up", "--port", str(port), env=env, timeout=150)
    assert up.returncode == 0, up.stdout + up.stderr
    pid = int((ws / "local" / "prefect-server" / "server.pid").read_text().split()[0])
    worker = None
    try:
        # The deployments go to a process work pool; a worker started in the project runs their flow runs.
        registered = relay(ws, "deploy", "--pool", POOL, "--cron", "* * * * *", env=env | {"PREFECT_API_URL": api})
        assert registered.returncode == 0, registered.stdout + registered.stderr
        log = ws / "local" / "logs" / "worker.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [str(Path(sys.executable).parent / "prefect"), "worker", "start", "--pool", POOL],
                cwd=ws,
                # The worker asks for work every 2 s instead of 10: the test waits less for the runs to start.
                env=env | {"PREFECT_API_URL": api, "PREFECT_WORKER_QUERY_SECONDS": "2"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        yield {
            "api": api,
            "up": up.stdout,
            "server_pid": pid,
            "deploy": worker,
            "registered": registered.stdout,
            "log": log,
            "root": ws,
        }
    finally:
        if worker is not None:
            # SIGTERM while the server still answers: a worker whose server is gone keeps retrying.
            stop_service(worker)
        down = relay(ws, "prefect", "down", env=env, timeout=60)
        assert down.returncode == 0 and f"PID {pid}" in down.stdout, down.stdout + down.stderr


def read_deployments(api: str, names: list[str], timeout: float = 90) -> dict[str, Any]:
    """The named deployments once `relay deploy` has registered them all."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> dict[str, Any]:
        async with get_client() as client:
            return {n: await client.read_deployment_by_name(n) for n in names}

    started = time.monotonic()
    with temporary_settings({PREFECT_API_URL: api}):
        while True:
            try:
                return asyncio.run(read())
            except ObjectNotFound:
                if time.monotonic() - started > timeout:
                    raise
                time.sleep(1)


def test_deployments_carry_schedule_and_owner_tags(served: dict[str, Any]) -> None:
    assert "healthy at " + served["api"] in served["up"].replace("\n", " ")
    found = read_deployments(served["api"], ["monitoring/scheduled", "training/on-demand", "retraining/on-demand"])
    monitoring = found["monitoring/scheduled"]
    assert [s.schedule.cron for s in monitoring.schedules] == ["* * * * *"]
    assert {"relay", "stage:monitor", "owner:mlops-engineer"} <= set(monitoring.tags)
    assert found["training/on-demand"].schedules == [] and "owner:data-scientist" in found["training/on-demand"].tags
    assert "stage:retrain" in found["retraining/on-demand"].tags
    assert monitoring.entrypoint == "pipelines.flows.monitoring.monitoring_flow"
    for deployment in found.values():
        assert deployment.work_pool_name == POOL and deployment.job_variables == {"working_dir": str(served["root"])}
    said = " ".join(served["registered"].split())
    assert f"work pool '{POOL}'" in said and f"prefect worker start --pool {POOL}" in said


def test_the_schedule_runs_the_monitor(served: dict[str, Any]) -> None:
    """The scheduler creates runs and the pool's worker runs them: the first minute's monitoring run completes,
    records its decision and, finding no new labels, leaves retraining waiting."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    read_deployments(served["api"], ["monitoring/scheduled"])
    final = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED]

    async def finished() -> list[Any]:
        async with get_client() as client:
            return await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["scheduled"])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=final))),
                sort=FlowRunSort.START_TIME_DESC,
                limit=10,
            )

    started = time.monotonic()
    with temporary_settings({PREFECT_API_URL: served["api"]}):
        try:
            while not (runs := asyncio.run(finished())):
                assert time.monotonic() - started < 300, "no scheduled monitoring run finished within 300 s"
                time.sleep(2)
        finally:
            # One scheduled run is what this test needs; left on, the schedule has the worker run the monitor
            # every minute for the rest of the module (each run 13 s of CPU in a full test run on 2 cores).
            with get_client(sync_client=True) as client:
                client.pause_deployment(client.read_deployment_by_name("monitoring/scheduled").id)
    run = runs[0]
    assert run.state is not None and run.state.is_completed(), (run.state, served["log"].read_text()[-3000:])
    assert run.auto_scheduled and run.work_pool_name == POOL  # picked up from the pool, by the worker
    from pipelines.monitoring import history

    newest = history.read(Settings(root=served["root"]).monitoring_store).iloc[0]
    assert newest["model_version"] == "1" and newest["retraining"].startswith("not retrained")


def test_an_on_demand_training_run_completes_with_owner_tagged_tasks(served: dict[str, Any]) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    read_deployments(served["api"], ["training/on-demand"])
    with temporary_settings({PREFECT_API_URL: served["api"]}):
        run = cast("FlowRun", run_deployment("training/on-demand", timeout=300))
        assert run.state is not None and run.state.is_completed(), (run.state, served["log"].read_text()[-3000:])

        async def tags() -> set[str]:
            async with get_client() as client:
                tasks = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
                    sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                    limit=200,
                )
                return {t for task in tasks for t in task.tags}

        # The server records task runs in batches (PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE in
        # pipelines/core/settings.py), flushed within seconds of the run's end.
        wanted = {"owner:data-engineer", "owner:data-scientist", "owner:ml-engineer"}
        started = time.monotonic()
        while not wanted <= (found := asyncio.run(tags())) and time.monotonic() - started < 60:
            time.sleep(1)
    # Each task names the role that owns its step, in the Prefect UI and API.
    assert wanted <= found, found
    assert served["deploy"].poll() is None, "the worker stopped"


def test_a_pool_of_another_type_is_refused(ws: Path, env: dict[str, str], served: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: served["api"]}), get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="their-cluster", type="kubernetes"))
    done = relay(ws, "deploy", "--pool", "their-cluster", env=env | {"PREFECT_API_URL": served["api"]})
    assert done.returncode == 1 and "is a kubernetes pool" in plain(done.stderr), done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_status_names_the_server(ws: Path, env: dict[str, str], served: dict[str, Any]) -> None:
    done = relay(ws, "prefect", "status", env=env | {"PREFECT_API_URL": served["api"]})
    assert done.returncode == 0 and f"PID {served['server_pid']}" in done.stdout
    assert os.path.exists(f"/proc/{served['server_pid']}")

"""`relay demo`'s own Prefect server: a real `prefect server start` that records the flows and goes away."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prefect import flow, task
from prefect.settings import PREFECT_API_URL, temporary_settings

from pipelines.flows.common import flow_run_settings
from pipelines.flows.prefect_api import start_command_server

pytestmark = pytest.mark.integration


@task(name="probe-task", tags=["stage:probe"])
def probe_task() -> int:
    return 41


@flow(name="command-server-probe")
def probe_flow() -> int:
    return probe_task() + 1


def test_the_command_server_records_the_flows_and_stops(tmp_path: Path) -> None:
    server = start_command_server(tmp_path / "logs" / "prefect-server.log")
    try:
        server.wait_ready()
        with temporary_settings(restore_defaults={PREFECT_API_URL}), flow_run_settings(server.api_url):
            state = probe_flow(return_state=True)
        assert state.result() == 42
        run = httpx.get(f"{server.api_url}/flow_runs/{state.state_details.flow_run_id}", timeout=10)
        assert run.status_code == 200, f"the server did not record the flow run: {run.text}"
        assert run.json()["state_type"] == "COMPLETED"
    finally:
        server.stop()
    assert server.process.returncode is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.api_url}/health", timeout=2)

"""A command's own Prefect server: a real `prefect server start` that records the flows and goes away."""

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


FAILING_COMMAND = """
import sys
from pathlib import Path
from prefect import flow, get_run_logger
from pipelines.flows.prefect_api import command_server, flows_reporting_to

@flow(name="command-server-failing-probe")
def failing() -> None:
    get_run_logger().warning("the last words of a failing flow")
    raise RuntimeError("boom")

with command_server(Path(sys.argv[1])) as server:
    print(server.api_url, flush=True)
    with flows_reporting_to(server, preload=("json",)):
        try:
            failing()
        except RuntimeError:
            pass
    # Read back while the server still runs: the failing flow's log must have been delivered.
    import httpx
    logs = httpx.post(f"{server.api_url}/logs/filter", json={"limit": 50}, timeout=10).json()
    print(any("last words" in entry["message"] for entry in logs), flush=True)
"""


def test_a_failing_flows_logs_reach_the_server_before_it_stops(tmp_path: Path) -> None:
    """A command whose flow fails still delivers the flow's logs to its own server, and ends without
    Prefect's "Error logging to API" (which a log sent after the server stopped would print)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", FAILING_COMMAND, str(tmp_path / "prefect-server.log")],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    api_url, delivered = done.stdout.split()[:2]
    assert api_url.startswith("http://127.0.0.1:") and delivered == "True", done.stdout + done.stderr[-3000:]
    assert "Error logging to API" not in done.stderr, done.stderr[-3000:]

"""Integration tests call flows in-process; they run them as the `relay` commands do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _flows_as_the_cli_runs_them() -> Iterator[None]:
    """No heartbeats on Prefect's temporary server (see `flow_run_settings`): each flow run would otherwise wait
    up to a second for its heartbeat thread as it ends. Per test, not per session: a session fixture stays
    active for every later test on the same xdist worker, unit tests included."""
    from pipelines.flows.common import flow_run_settings

    with flow_run_settings():
        yield


@pytest.fixture
def in_workspace(trained_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's copy of the trained workspace as the current project (what `relay` finds from its folder)."""
    monkeypatch.setenv("RELAY_ROOT", str(trained_workspace))
    monkeypatch.setenv("PREFECT_HOME", str(trained_workspace / "local" / "prefect"))
    monkeypatch.chdir(trained_workspace)
    return trained_workspace

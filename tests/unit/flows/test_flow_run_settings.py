"""Flow-run heartbeats: off for Prefect's temporary server (it dies with the process), as configured otherwise."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from pipelines.flows.common import flow_run_settings


def test_heartbeats_are_off_for_the_temporary_server() -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY}):
        assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is not None
        with flow_run_settings():
            assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None
        assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is not None


@pytest.mark.parametrize("frequency", [None, 45])
def test_a_real_server_keeps_its_heartbeats(frequency: int | None) -> None:
    updates: dict[Any, Any] = {PREFECT_API_URL: "http://127.0.0.1:4200/api"}
    if frequency is not None:
        updates[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = frequency
    with temporary_settings(updates=updates, restore_defaults={PREFECT_FLOWS_HEARTBEAT_FREQUENCY}):
        before = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
        with flow_run_settings():
            assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() == before
        assert before is not None


def test_the_cli_freezes_the_heap_before_the_interpreter_tears_it_down() -> None:
    # Exit handlers run last-registered first: this one, registered before the CLI is imported, runs after
    # the CLI's and sees whether the objects were frozen by then.
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen' if gc.get_freeze_count() else 'not frozen'))\n"
        "import pipelines.cli.main\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "frozen"

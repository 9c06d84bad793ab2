"""The command's own Prefect server: used only without a configured API, and a failed start says why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from pipelines.flows import prefect_api
from pipelines.flows.common import flow_run_settings
from pipelines.flows.prefect_api import CommandServer, command_server


def test_a_server_in_the_environment_is_used_and_nothing_is_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def must_not_start(log_path: Path) -> CommandServer:
        raise AssertionError("started a server although PREFECT_API_URL is set")

    monkeypatch.setattr(prefect_api, "start_command_server", must_not_start)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    with command_server(tmp_path / "prefect.log") as server:
        assert server is None


def test_a_server_named_in_a_profile_is_used_and_the_own_one_stopped_before_any_flow(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events: list[str] = []

    class Fake:
        def stop(self) -> None:
            events.append("stopped")

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(prefect_api, "start_command_server", lambda log_path: events.append("started") or Fake())
    with (
        temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}),
        command_server(tmp_path / "prefect.log") as server,
    ):
        assert server is None and events == ["started", "stopped"]


def test_without_a_configured_server_one_is_started_and_stopped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events: list[str] = []

    class Fake:
        api_url = "http://127.0.0.1:1/api"

        def stop(self) -> None:
            events.append("stopped")

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(prefect_api, "start_command_server", lambda log_path: events.append("started") or Fake())
    with (
        temporary_settings(restore_defaults={PREFECT_API_URL}),
        pytest.raises(RuntimeError, match="boom"),
        command_server(tmp_path / "prefect.log") as server,
    ):
        assert server is not None
        raise RuntimeError("boom")
    assert events == ["started", "stopped"]


def _exits(tmp_path: Path, code: str) -> CommandServer:
    log = tmp_path / "prefect.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT)
    return CommandServer(proc, "http://127.0.0.1:9/api", log)


@pytest.mark.slow
def test_a_server_that_exits_is_reported_with_its_last_log_line(tmp_path: Path) -> None:
    server = _exits(tmp_path, "print('starting'); print('[Errno 98] address already in use'); raise SystemExit(3)")
    with pytest.raises(RuntimeError) as err:
        server.wait_ready(timeout=60)
    message = str(err.value)
    assert "exited with code 3" in message
    assert "[Errno 98] address already in use" in message
    assert str(server.log_path) in message


@pytest.mark.slow
def test_a_server_that_never_answers_is_reported_and_can_be_stopped(tmp_path: Path) -> None:
    server = _exits(tmp_path, "import time; print('waiting', flush=True); time.sleep(60)")
    with pytest.raises(RuntimeError, match=r"did not answer within 1 s \(waiting\)"):
        server.wait_ready(timeout=1)
    server.stop()
    assert server.process.returncode is not None


def test_flows_of_a_command_server_report_there_without_heartbeats() -> None:
    url = "http://127.0.0.1:4321/api"
    with temporary_settings(restore_defaults={PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY}):
        with flow_run_settings(url):
            assert PREFECT_API_URL.value() == url
            assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None
        assert PREFECT_API_URL.value() is None
        assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is not None

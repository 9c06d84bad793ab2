"""`relay monitor-exporter` serves the newest monitor decision to Prometheus over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipelines.monitoring import history
from tests.helpers import REPO
from tests.unit.monitoring.test_history import decision

pytestmark = pytest.mark.integration


def test_exporter_serves_the_newest_decision(tmp_path: Path) -> None:
    url, reports = f"sqlite:///{tmp_path}/history.db", tmp_path / "monitoring"
    history.record(decision(reports, "20261121T100000Z", True, ["brand"]), url, reports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = os.environ | {"RELAY_MONITORING_URL": url}
    relay = Path(sys.executable).parent / "relay"
    proc = subprocess.Popen(
        [str(relay), "monitor-exporter", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline, text = time.monotonic() + 60, ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert 'relay_drift_detected{model_version="2"} 1.0' in text, text[:500]
        history.record(decision(reports, "20261122T100000Z", False, []), url, reports)
        after = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        assert 'relay_drift_detected{model_version="2"} 0.0' in after  # read at every scrape, never cached
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""README.md's "The loop, one command at a time" works exactly as written: each line of its block runs, in
order, in a copy of the project that shares this checkout's environment; `make serve` runs in the background,
as in the second terminal the README asks for."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from pipelines.flows.common import free_port
from pipelines.flows.service import wait_until_ready
from tests.conftest import REPO, make_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def loop_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## The loop, one command at a time", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README.md lost the loop's bash block"
    return [line.split("  #", 1)[0].strip() for line in block[1].splitlines() if line.strip()]


def test_the_readme_loop_runs_as_written(tmp_path: Path) -> None:
    commands = loop_commands()
    assert commands[0] == "make install" and "make serve" in commands and commands[-1] == "make monitor"
    root = make_workspace(tmp_path / "ws")
    for name in ("Makefile", "uv.lock"):
        shutil.copy2(REPO / name, root / name)
    for shared in (".venv", ".uv"):  # the same environment: `make install` finds it up to date
        if (REPO / shared).exists():
            (root / shared).symlink_to(REPO / shared)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env |= {"RELAY_API_PORT": str(port), "PREFECT_HOME": str(root / "local" / "prefect")}
    service: subprocess.Popen[bytes] | None = None
    try:
        for command in commands:
            if command == "make serve":
                log = (root / "serve.log").open("wb")
                service = subprocess.Popen(
                    ["bash", "-c", f"exec {command}"],
                    cwd=root,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: make and the service stop together
                )
                wait_until_ready(service, f"http://127.0.0.1:{port}", root / "serve.log", timeout=120)
                continue
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            # `make monitor` exits 3 when it finds drift, as the README says; the replayed week has drift.
            expected = (0, 2) if command == "make monitor" else (0,)
            assert done.returncode in expected, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "drift: True" in done.stdout and "retraining:" in done.stdout
    finally:
        if service is not None and service.poll() is None:
            os.killpg(service.pid, signal.SIGTERM)  # make and the service it started; the service flushes its log
            service.wait(timeout=60)

"""What the container tests share: the tools and images (built once per session) and podman helpers."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

SCRIPT = REPO / "infra" / "scripts" / "containers.sh"
API, PIPELINE = "localhost/relay-api:dev", "localhost/relay-pipeline:dev"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def podman_env() -> dict[str, str]:
    """Set up the tools and the base image, build both targets, and return the environment podman needs."""
    setup = subprocess.run([str(SCRIPT), "setup"], capture_output=True, text=True, timeout=900, check=False)
    if setup.returncode == 3:
        _unavailable(setup.stderr.strip())
    assert setup.returncode == 0, setup.stderr[-3000:]
    exports = subprocess.run([str(SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    for pair in exports.removeprefix("export ").split():
        key, _, value = pair.partition("=")
        env[key] = value.strip("'")
    build = subprocess.run([str(SCRIPT), "build"], capture_output=True, text=True, timeout=1200, check=False, env=env)
    assert build.returncode == 0, build.stderr[-3000:]
    return env


def podman(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False, env=env)


def open_to_all(root: Path) -> None:
    """The containers run as uid 10001, not as the owner of these test folders."""
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IRWXO if path.is_dir() else mode | stat.S_IROTH | stat.S_IWOTH)

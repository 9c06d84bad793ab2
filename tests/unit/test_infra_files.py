"""The infrastructure files, checked by the tools made for them (offline, seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

BIN = Path(sys.executable).parent


def test_dockerfile_is_hadolint_clean() -> None:
    done = subprocess.run(
        [str(BIN / "hadolint"), str(REPO / "infra" / "docker" / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

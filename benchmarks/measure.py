"""What the benchmark scripts share: run a snippet in a fresh interpreter and measure it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def run_python(script: str, cwd: Path) -> tuple[float, float]:
    """Run `script` with this interpreter; return (seconds, peak RSS in MiB, read with wait4).

    A fresh process per step means each step's imports and peak memory are its own.
    """
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step failed with exit code {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss / 1024


def print_header(step_width: int) -> None:
    """The machine line and the table header every benchmark here prints."""
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'rows':>11} | {'step':<{step_width}} | {'seconds':>8} | {'peak MiB':>8}")
    print(f"{'-' * 11}-+-{'-' * step_width}-+-{'-' * 8}-+-{'-' * 8}")

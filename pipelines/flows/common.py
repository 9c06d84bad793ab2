"""What every flow shares: console output that names owners, and the environment the tools need."""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from pipelines.ownership import get_stage
from pipelines.settings import Settings

console = Console(highlight=False)
# Wall time per stage across the flows of this process; the demo and benchmarks/demo.py report it.
STAGE_SECONDS: defaultdict[str, float] = defaultdict(float)


@contextmanager
def timed(stage_name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS[stage_name] += time.perf_counter() - started


def banner(stage_name: str, detail: str = "") -> None:
    s = get_stage(stage_name)
    console.print(f"[bold cyan]▶ {s.name:<9}[/] [magenta]{s.owner.label:<15}[/] {detail}")


def note(text: str) -> None:
    console.print(f"  [dim]{text}[/]")


def prepare_environment(settings: Settings) -> None:
    """Make subprocesses (DVC stage commands, the API) see the same settings and this venv's tools."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.update({k: v for k, v in settings.child_env().items() if k.startswith(("RELAY_", "MLFLOW_", "DVC_"))})

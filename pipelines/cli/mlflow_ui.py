"""`relay mlflow-ui`: MLflow's own UI on the tracking store the settings name.

The store's location is written once, in `pipelines/core/settings.py` (RELAY_MLFLOW_TRACKING_URI and
RELAY_MLFLOW_ARTIFACT_LOCATION override it); this command reads it from there rather than the Makefile
repeating the path. A tracking server has its own UI, so for one this command says where that is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.cli.console import console, friendly_errors, quiet_tools

if TYPE_CHECKING:
    from pipelines.core.settings import Settings


def ui_argv(settings: Settings, host: str, port: int) -> list[str]:
    """The `mlflow ui` command line for the project's store; ValueError for a tracking server."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        raise ValueError(f"the tracking store is the MLflow server at {uri}: open that address in a browser")
    mlflow = Path(sys.executable).parent / "mlflow"
    argv = [str(mlflow)] if mlflow.exists() else [sys.executable, "-m", "mlflow"]
    argv += ["ui", "--host", host, "--port", str(port), "--backend-store-uri", uri]
    if settings.artifact_location:
        argv += ["--default-artifact-root", settings.artifact_location]
    return argv


@friendly_errors
def command(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 5000,
) -> None:
    """Open MLflow's UI (runs, models, registry) on this project's tracking store."""
    quiet_tools()
    from pipelines.core.lineage import require_store
    from pipelines.core.settings import get_settings

    s = get_settings()
    argv = ui_argv(s, host, port)
    require_store(s.tracking_uri)  # `mlflow ui` would otherwise make an empty store and show that
    console.print(f"MLflow UI for {argv[argv.index('--backend-store-uri') + 1]} at http://{host}:{port}")
    sys.stdout.flush()
    # MLflow's server takes over this process: Ctrl-C and SIGTERM reach it directly.
    os.execv(argv[0], argv)

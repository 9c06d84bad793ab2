"""`relay monitor ui`: Evidently's own UI on the workspace every monitor run goes into.

The workspace's location is written once, in `pipelines/core/settings.py` (RELAY_EVIDENTLY_WORKSPACE overrides
it). The command provisions the model's project and dashboard first (idempotent), so the UI shows Relay's panels
even before the first run, then serves Evidently's UI from this process, as `evidently ui` would (through the
same `evidently.ui.service.app` functions, so Evidently is imported once, not twice). An Evidently UI service
given by URL has its own address: the command provisions the dashboard there and says where to look.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli.console import console, friendly_errors, quiet_tools


@friendly_errors
def command(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8001,
) -> None:
    """Open Evidently's UI on the monitor's workspace: Relay's dashboard of every run over time."""
    quiet_tools()  # DO_NOT_TRACK among them: Evidently's UI sends usage events unless it is set
    from pipelines.core.settings import get_settings
    from pipelines.monitoring import dashboard

    target = dashboard.Target.from_settings(get_settings())
    _, project = dashboard.provisioned(target)
    if target.remote:
        console.print(f"Relay's dashboard is provisioned on the Evidently UI at {target.location}/projects/{project}")
        return
    from evidently.ui.service.app import get_config, run

    console.print(f"Evidently UI for {target.location} at http://{host}:{port}/projects/{project}; Ctrl-C stops")
    # With RELAY_EVIDENTLY_SECRET this UI, too, takes writes (monitor runs sent to its URL) only with the secret.
    secret = target.secret.get_secret_value() if target.secret else None
    # uvicorn's server: Ctrl-C and SIGTERM stop it.
    run(get_config(host=host, port=port, workspace=target.location, secret=secret))

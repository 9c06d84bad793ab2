"""`relay retrain` (owner: MLOps engineer): the retraining flow on the newest monitor decision."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli.console import console, quiet_tools


def command(
    dry_run: Annotated[bool, typer.Option(help="Only say whether the newest decision calls for retraining.")] = False,
) -> None:
    """Retraining flow on the newest monitor decision: new labels → training flow → promotion gate."""
    quiet_tools()
    from pipelines.core.settings import get_settings

    s = get_settings()
    if dry_run:
        from pipelines.flows.retraining import newest_decision, plan

        planned = plan(s, newest_decision(s))
        console.print(("would retrain: " if planned.retrain else "would not retrain: ") + planned.reason)
        return
    from pipelines.flows.common import command_server

    # Prefect's server for this command first, so it starts while the flows are imported.
    with command_server(s.prefect_server_log) as server:
        from pipelines.flows.common import reporting_to
        from pipelines.flows.retraining import retraining_flow

        # A failed run raises RetrainingError after recording it: `error: ...` and exit code 1.
        with reporting_to(server, preload=("mlflow", "dvc.repo")):
            console.print(retraining_flow(settings=s).outcome)

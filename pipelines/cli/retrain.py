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
    from pipelines.flows.common import flow_run_settings
    from pipelines.flows.retraining import newest_decision, plan, retraining_flow
    from pipelines.settings import get_settings

    s = get_settings()
    if dry_run:
        planned = plan(s, newest_decision(s))
        console.print(("would retrain: " if planned["retrain"] else "would not retrain: ") + planned["reason"])
        return
    # A failed run raises RetrainingError after recording it: `error: ...` and exit code 1.
    with flow_run_settings():
        console.print(retraining_flow(settings=s)["outcome"])

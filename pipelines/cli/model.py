"""`relay model ...`: the ML engineer's view of the registry, and the way back."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.console import console, friendly_errors, quiet_tools

app = typer.Typer(
    help="ML engineer: registered versions, aliases, promotion decisions, rollback.", no_args_is_help=True
)


@app.command("status")
@friendly_errors
def status() -> None:
    """Versions with aliases, holdout metrics from the gate, and who promoted (or rolled back) what."""
    quiet_tools()
    from pipelines.core.params import TASK_METRICS
    from pipelines.core.settings import get_settings
    from pipelines.release.rollback import status as read_status

    s = get_settings()
    rows = read_status(s.tracking_uri, s.model_name)
    table = Table(title=f"{s.model_name} @ {s.tracking_uri}")
    shown = TASK_METRICS[s.contract.task][:3]
    for col in ("version", "aliases", *shown, "data version", "trigger", "gate", "history"):
        table.add_column(col, overflow="fold")
    for r in rows:
        history = [r.reason]
        if r.promoted_by:
            history.append(f"promoted {r.promoted_at} by {r.promoted_by}")
        if r.rolled_back:
            history.append(f"[red]rolled back[/] {r.rolled_back}")
        table.add_row(
            r.version,
            ", ".join(r.aliases),
            *[_short(r.metrics.get(k, "")) for k in shown],
            r.data_version[:10],
            r.trigger,
            r.gate,
            "\n".join(h for h in history if h),
        )
    console.print(table)
    console.print("metrics are each version's own gate run, on the holdout of its data version")


def _short(value: str) -> str:
    try:
        return f"{float(value):.4f}"
    except ValueError:
        return value


@app.command("rollback")
@friendly_errors
def rollback(
    to: Annotated[str | None, typer.Option(help="Version to restore (default: the champion before this one).")] = None,
    reason: Annotated[str, typer.Option(help="Why; recorded on both versions.")] = "manual rollback",
) -> None:
    """Move `champion` back to the previous champion (or --to VERSION); running services follow.

    Services in RELAY_SERVICE_URLS switch at once; any other switches on its next registry poll.
    """
    quiet_tools()
    import getpass

    from pipelines.core.settings import get_settings
    from pipelines.release.rollback import rollback as do_rollback

    s = get_settings()
    before, after = do_rollback(
        s.tracking_uri, s.model_name, to=to, reason=reason, by=f"ml-engineer {getpass.getuser()} (relay model rollback)"
    )
    console.print(f"{s.model_name}: champion moved from version {before} to version {after} ({reason})")
    if not s.service_urls:
        console.print(
            f"a running service switches within RELAY_RELOAD_INTERVAL_S ({s.reload_interval_s:g} s); "
            "set RELAY_SERVICE_URLS to switch it at once"
        )
    from pipelines.release.notify import notify_services

    key = s.api_key.get_secret_value() if s.api_key else None
    for notice in notify_services(s.service_urls, api_key=key):
        console.print(notice.describe())

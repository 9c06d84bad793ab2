"""`relay model ...`: the ML engineer's view of the registry."""

from __future__ import annotations

import typer
from rich.table import Table

from pipelines.cli.console import console, friendly_errors, quiet_tools

app = typer.Typer(help="ML engineer: registered versions, aliases and promotion decisions.", no_args_is_help=True)


@app.command("status")
@friendly_errors
def status() -> None:
    """Show registered versions with aliases, gate results and who promoted them."""
    quiet_tools()
    from pipelines.lineage import configure_mlflow
    from pipelines.settings import get_settings

    s = get_settings()
    configure_mlflow(s.tracking_uri)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        model = client.get_registered_model(s.model_name)
    except MlflowException:
        raise FileNotFoundError(f"no registered model {s.model_name!r} at {s.tracking_uri}; run `make demo`") from None
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    table = Table(title=f"{s.model_name} @ {s.tracking_uri}")
    for col in ("version", "aliases", "roc_auc", "data version", "trigger", "gate", "reason", "promoted by"):
        table.add_column(col)
    for mv in sorted(client.search_model_versions(f"name = '{s.model_name}'"), key=lambda m: int(m.version)):
        t = mv.tags
        table.add_row(
            str(mv.version),
            ", ".join(aliases.get(str(mv.version), [])),
            t.get("metric.roc_auc", ""),
            t.get("relay.data_version", "")[:10],
            t.get("relay.trigger", ""),
            t.get("relay.gate", ""),
            t.get("relay.gate_reason", ""),
            t.get("relay.promoted_by", ""),
        )
    console.print(table)

"""The `relay` command. Heavy libraries (MLflow, Prefect, Evidently) load inside the commands that use
them, so `relay --help` and `relay roles` answer at once."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pipelines.cli import clean, data, mlflow_ui, model, retrain, stages
from pipelines.cli.console import console, err, friendly_errors, quiet_tools
from pipelines.core.lineage import Trigger

app = typer.Typer(
    help="Relay: an MLOps reference pipeline with role-owned stages.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")
app.add_typer(stages.app, name="stage")
app.command("mlflow-ui")(mlflow_ui.command)
app.command("clean")(clean.command)
app.command("retrain")(friendly_errors(retrain.command))
# part:experiments:begin
from pipelines.cli import train  # noqa: E402 (a part `relay new --no-experiments` leaves out)

app.add_typer(train.app, name="train")
app.add_typer(train.experiments, name="experiments")
# part:experiments:end
# part:lineage:begin
from pipelines.cli import lineage  # noqa: E402 (a part `relay new --no-lineage` leaves out)

app.command("lineage")(lineage.command)
# part:lineage:end
# part:teaching:begin
from pipelines.teaching import tour  # noqa: E402 (a part `relay new --no-teaching` leaves out)

app.command("tour")(tour.command)
# part:teaching:end
# part:template-only:begin
from pipelines.template import new  # noqa: E402 (Relay's own: a generated project does not make projects)

app.command("new")(friendly_errors(new.command))
# part:template-only:end
# part:prefect-server:begin
from pipelines.cli import prefect_server  # noqa: E402 (a part `relay new --no-prefect-server` leaves out)

app.add_typer(prefect_server.app, name="prefect")
app.command("deploy")(friendly_errors(prefect_server.deploy))
# part:prefect-server:end


def _command_server() -> AbstractContextManager[Any]:
    """Prefect's server for this command's flows, started before their imports (see pipelines.flows.common)."""
    from pipelines.core.settings import get_settings
    from pipelines.flows.common import command_server

    return command_server(get_settings().prefect_server_log)


@app.command("roles")
@friendly_errors
def roles(
    check: Annotated[bool, typer.Option(help="Fail if roles.md, CODEOWNERS or dvc.yaml disagree.")] = False,
    write: Annotated[
        bool, typer.Option(help="Regenerate the generated parts of roles.md, CODEOWNERS and the role pages.")
    ] = False,
) -> None:
    """Print who owns which stage, what each takes and what it hands over."""
    from pipelines.core import ownership_check
    from pipelines.core.ownership import STAGES
    from pipelines.core.settings import find_root

    root = find_root()
    writers, checks = [ownership_check.write], [ownership_check.problems]
    # part:teaching:begin
    from pipelines.teaching import pages

    writers, checks = [*writers, pages.write], [*checks, pages.problems]
    # part:teaching:end
    if write:
        for path in (p for w in writers for p in w(root)):
            console.print(f"wrote {path.relative_to(root)}")
        if not check:
            return
    if check:
        found = [p for c in checks for p in c(root)]
        for p in found:
            err.print(f"[red]ownership drift:[/] {p}")
        if found:
            raise typer.Exit(1)
        console.print("[green]ownership consistent[/]: registry, roles.md, CODEOWNERS and dvc.yaml agree")
        return
    table = Table(title="Relay stages and their owners")
    for col in ("stage", "owner", "takes", "hands over"):
        table.add_column(col, overflow="fold")
    for s in STAGES:
        table.add_row(s.name, s.owner.label, s.takes, s.hands_over)
    console.print(table)


@app.command("pipeline")
@friendly_errors
def pipeline(
    trigger: Annotated[Trigger, typer.Option(help="Why training runs; tagged on the MLflow run.")] = Trigger.MANUAL,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare/--no-compare",
            help="Judge the candidate against the champion; --no-compare: on the gate's floors alone (for a "
            "champion trained on another contract).",
        ),
    ] = True,
) -> None:
    """Training flow: dvc repro → push → track in MLflow → register → promotion gate."""
    quiet_tools()
    with _command_server() as server:
        from pipelines.flows.common import reporting_to
        from pipelines.flows.training import training_flow

        with reporting_to(server, preload=("mlflow", "dvc.repo")):
            decision = training_flow(trigger=trigger.value, compare=compare)
    console.print(
        f"version {decision.version}: {'promoted' if decision.promoted else 'not promoted'} ({decision.reason})"
    )


# A group: `relay monitor` judges, and optional parts add subcommands under it (the evidently-ui part its `ui`).
monitoring = typer.Typer(invoke_without_command=True)
app.add_typer(monitoring, name="monitor")


@monitoring.callback()
@friendly_errors
def monitor(
    ctx: typer.Context,
    retrain: Annotated[
        bool | None,
        typer.Option(
            "--retrain/--no-retrain",
            help="Start the retraining flow when the decision calls for it (default: retrain.automatic).",
        ),
    ] = None,
) -> None:
    """Monitoring flow: drift and model quality against the champion, then retraining when called for.

    Exit code 3 when drift or a quality drop was found (whatever retraining then did), 1 when retraining failed.
    """
    if ctx.invoked_subcommand:
        return
    quiet_tools()
    with _command_server() as server:
        from pipelines.flows.common import reporting_to
        from pipelines.flows.monitoring import monitoring_flow

        with reporting_to(server, preload=("mlflow", "evidently")):
            decision = monitoring_flow(retrain=retrain)
    quality = decision.model_quality.message if decision.model_quality else "not judged"
    console.print(
        f"drift: {decision.drift} (share {decision.drift_share:.2f}); model quality: {quality}; "
        f"report {decision.report}"
    )
    done = decision.retraining
    if done:
        console.print(f"retraining: {done.outcome}")
        if done.failed:
            raise typer.Exit(1)
    if decision.drift or decision.quality_dropped:
        raise typer.Exit(3)


# part:evidently-ui:begin
from pipelines.cli import monitor_ui  # noqa: E402 (a part `relay new --no-evidently-ui` leaves out)

monitoring.command("ui")(monitor_ui.command)


# part:evidently-ui:end
# part:containers:begin
@app.command("monitor-exporter")
@friendly_errors
def monitor_exporter(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for /metrics.")] = 9108,
    max_age: Annotated[
        float, typer.Option(min=1, help="Seconds the newest run may age before the RelayMonitorStale alert fires.")
    ] = 7200,
) -> None:
    """Serve the newest monitor decision as Prometheus gauges on /metrics (drift, shares, per-feature scores)."""
    quiet_tools()
    import threading

    from prometheus_client import CollectorRegistry, start_http_server

    from pipelines.core.settings import get_settings
    from pipelines.monitoring.exporter import MonitoringCollector

    s = get_settings()
    registry = CollectorRegistry()
    registry.register(MonitoringCollector(s.monitoring_store, max_age))
    server, _ = start_http_server(port, addr=host, registry=registry)
    console.print(f"monitoring gauges on http://{host}:{port}/metrics (from {s.monitoring_store}); Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


# part:containers:end
@app.command("serve")
@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default RELAY_API_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default RELAY_API_PORT, 8000).")] = None,
) -> None:
    """Start the prediction service with the champion model."""
    quiet_tools()
    import uvicorn

    from pipelines.core.settings import get_settings
    from services.api.observability import log_config

    s = get_settings()
    uvicorn.run(
        "services.api.main:create_app",
        factory=True,
        host=host if host is not None else s.api_host,
        port=port if port is not None else s.api_port,
        log_level="info",
        log_config=log_config(s.log_format),
        access_log=False,
    )


@app.command("replay")
@friendly_errors
def replay(
    batch: Annotated[int, typer.Option(min=1, max=9999, help="Generator week whose records to send.")] = 1,
    scenario: Annotated[list[str] | None, typer.Option(help="Drift scenario(s) to switch on, e.g. promotion.")] = None,
    file: Annotated[
        Path | None, typer.Option(help="Send this CSV or Parquet file's records instead of a generated week.")
    ] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (default: ingest.delimiter).")] = None,
    rate: Annotated[float | None, typer.Option(min=0.1, help="At most this many records a second.")] = None,
    url: Annotated[str | None, typer.Option(help="Service to send to (default http://RELAY_API_HOST:PORT).")] = None,
) -> None:
    """Send records to a running prediction service as live traffic (features only; labels arrive later)."""
    quiet_tools()
    import httpx

    from pipelines.core.settings import get_settings
    from pipelines.data.sources import ReadOptions
    from pipelines.flows.service import replay_file, replay_orders

    s = get_settings()
    target = url or f"http://{s.api_host}:{s.api_port}"
    p = s.params.ingest
    try:
        if file is not None:
            options = ReadOptions(delimiter=delimiter or p.delimiter, encoding=p.encoding)
            sent, what = replay_file(target, file, s, options=options, rate=rate), str(file)
        else:
            sent, what = replay_orders(target, batch, scenario or [], s), f"week {batch}"
    except httpx.TransportError as exc:
        raise ConnectionError(f"no prediction service at {target} ({exc}); start one with `make serve`") from None
    except httpx.HTTPStatusError as exc:
        raise RuntimeError(
            f"{target} refused the records: {exc.response.status_code} {exc.response.text[:300]}"
        ) from None
    console.print(f"sent {sent:,} records of {what} to {target}; `relay monitor` judges them")


# part:batch-scoring:begin
@app.command("score")
@friendly_errors
def score(
    file: Annotated[Path, typer.Option(help="CSV or Parquet file of records to score.")],
    out: Annotated[Path, typer.Option(help="Where the predictions go: .parquet, or .csv.")],
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (default: ingest.delimiter).")] = None,
) -> None:
    """Score a file with the champion, offline and in chunks: one row of predictions per record."""
    quiet_tools()
    from pipelines.core.settings import get_settings
    from pipelines.data.sources import ReadOptions
    from pipelines.flows.scoring import score_file

    s = get_settings()
    options = ReadOptions(delimiter=delimiter or s.params.ingest.delimiter, encoding=s.params.ingest.encoding)
    done = score_file(s, file, out, options)
    console.print(
        f"scored {done.rows:,} records into {done.out} with {s.model_name} v{done.model_version} "
        f"(trained on data {done.data_version[:10]})"
    )


# part:batch-scoring:end
# part:teaching:begin
@app.command("demo")
@friendly_errors
def demo() -> None:
    """Run the whole story: ingest → ... → drift → retrain → new champion served."""
    quiet_tools()
    import signal
    import sys

    # Turn SIGTERM into an ordinary exit so the demo's `finally` blocks stop the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Prefect's server first, before the heavy imports below, so that it starts on the other core meanwhile.
    with _command_server() as server:
        from pipelines.flows.demo import run_demo

        run_demo(server=server)


# part:teaching:end
if __name__ == "__main__":
    app()

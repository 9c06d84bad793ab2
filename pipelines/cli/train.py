"""`relay train ...`: the data scientist's experiments beyond the one DVC pipeline run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.console import console, friendly_errors, quiet_tools

app = typer.Typer(help="Data scientist: hyperparameter sweeps tracked in MLflow.", no_args_is_help=True)

RUNNERS = ("processes", "threads", "dask", "ray")


@app.command("sweep")
@friendly_errors
def sweep(
    trials: Annotated[int | None, typer.Option(min=1, help="Grid points to try (default sweep.trials).")] = None,
    parallel: Annotated[int | None, typer.Option(min=1, help="Trials at once (default sweep.parallel).")] = None,
    runner: Annotated[str | None, typer.Option(help="processes, threads, dask or ray (default sweep.runner).")] = None,
    address: Annotated[
        str | None,
        typer.Option(help="The dask or ray cluster to use (default RELAY_DASK_ADDRESS / RELAY_RAY_ADDRESS)."),
    ] = None,
    apply: Annotated[bool, typer.Option(help="Write the best values into params.yaml's train section.")] = False,
) -> None:
    """Try the search space in params.yaml (`sweep`) on the validation slice; one nested MLflow run per trial."""
    quiet_tools()
    if runner is not None and runner not in RUNNERS:
        raise typer.BadParameter(f"{runner!r}: use processes, threads, dask or ray", param_hint="--runner")
    if address and runner not in ("dask", "ray"):
        raise typer.BadParameter("a cluster address needs --runner dask or --runner ray", param_hint="--address")
    from pipelines.flows.common import flow_run_settings
    from pipelines.flows.sweep import run_sweep

    with flow_run_settings():
        result = run_sweep(trials=trials, parallel=parallel, runner=runner, address=address, apply=apply)
    metric = result["metric"]
    table = Table(title=f"sweep on data version {result['data_version'][:10]}: validation {metric}, best first")
    binary = "threshold" in result["best"]["metrics"]
    for col in ("trial", "changed from params.yaml", metric, *(["threshold"] if binary else []), "fit s", ""):
        table.add_column(col)
    from pipelines.core.params import LOWER_IS_BETTER, TrainParams
    from pipelines.core.settings import get_settings
    from pipelines.training.sweep import changed

    base = get_settings().params.train if not result["applied"] else TrainParams(**result["baseline"]["params"])
    sign = 1 if metric in LOWER_IS_BETTER else -1
    for r in sorted(result["trials"], key=lambda r: (sign * r["metrics"][metric], r["index"])):
        diff = changed(base, TrainParams(**r["params"]))
        m = r["metrics"]
        table.add_row(
            str(r["index"]),
            ", ".join(f"{k}={v}" for k, v in diff.items()) or "(baseline)",
            f"{m[metric]:.4f}",
            *([f"{m['threshold']:g}"] if binary else []),
            f"{m['fit_seconds']:.1f}",
            "[green]best[/]" if r["run_id"] == result["best"]["run_id"] else "",
        )
    console.print(table)
    if result["failed"]:
        console.print(f"[red]{result['failed']} trial(s) failed[/]; their errors are on the FAILED runs in MLflow")
    console.print(
        f"MLflow parent run {result['parent_run_id']} (experiment {result['experiment_id']}), "
        f"{len(result['trials'])} trial(s) in {result['seconds']} s"
    )
    adopt = result["adopt"]
    if not adopt:
        console.print("params.yaml's train values are already the best of this sweep.")
    elif result["applied"]:
        console.print("applied to params.yaml: " + ", ".join(f"train.{k}={v}" for k, v in adopt.items()))
        console.print("next: `relay pipeline` (or `dvc repro`) trains, evaluates on the holdout and runs the gate")
    else:
        flags = " ".join(f"-S train.{k}={v}" for k, v in adopt.items())
        console.print(f"to try the best on the holdout as a DVC experiment: [bold]dvc exp run {flags}[/]")
        console.print("or adopt it: `relay train sweep --apply` (writes params.yaml), then `relay pipeline`")


experiments = typer.Typer(help="Data scientist: compare tracked runs.", no_args_is_help=True)


@experiments.command("compare")
@friendly_errors
def compare(
    top: Annotated[int, typer.Option(min=1, max=50, help="How many runs to show.")] = 5,
    metric: Annotated[
        str | None,
        typer.Option(help="Metric to rank by (default promote.metric; rmse, mae, log_loss, brier: lowest first)."),
    ] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Compare the trials of the latest sweep instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The best runs side by side with their data versions, params and metrics."""
    quiet_tools()
    import json

    from pipelines.core.lineage import configure_mlflow
    from pipelines.core.params import TASK_METRICS
    from pipelines.core.settings import get_settings
    from pipelines.training.compare import as_dicts
    from pipelines.training.compare import compare as run_compare

    s = get_settings()
    configure_mlflow(s.tracking_uri)
    rows, what = run_compare(
        s.experiment_name,
        s.model_name,
        kind="sweep" if sweep else "training",
        metric=metric or s.params.promote.metric,
        top=top,
    )
    if as_json:
        console.print_json(json.dumps(as_dicts(rows)))
        return
    table = Table(title=what)
    table.add_column("")
    for row in rows:
        table.add_column(row.name + (f" ({', '.join(row.marks)})" if row.marks else ""), overflow="fold")
    table.add_row("run id", *[r.run_id[:12] for r in rows])
    table.add_row("started (UTC)", *[r.started for r in rows])
    table.add_row("data version", *[r.data_version[:10] for r in rows])
    if not sweep:
        table.add_row("trigger", *[r.trigger for r in rows])
        table.add_row("registered", *[r.registered for r in rows])
    params = list(dict.fromkeys(k for r in rows for k in r.params))
    for key in params:
        table.add_row(key, *[r.params.get(key, "") for r in rows], style="cyan")
    task = [*TASK_METRICS[s.contract.task], "cost_per_1000"]
    shown = task if not sweep else [*(f"validation_{k}" for k in task), "fit_seconds"]
    for key in shown:
        values = [r.metrics.get(key) for r in rows]
        if any(v is not None for v in values):
            table.add_row(key, *["" if v is None else f"{v:.4g}" for v in values], style="green")
    console.print(table)
    if not sweep and len({r.data_version for r in rows}) > 1:
        console.print(
            "[yellow]note:[/] these runs were scored on different holdouts (their data versions differ), so "
            "their metrics are not strictly comparable; the promotion gate re-scores champion and challenger "
            "on the same holdout"
        )
    console.print("restore a run's data: `relay data checkout <data version>`; diff two commits: `dvc metrics diff`")

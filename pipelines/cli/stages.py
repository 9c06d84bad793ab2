"""`relay stage <name>`: the commands `dvc.yaml` runs. Each reads settings and params, calls one stage."""

from __future__ import annotations

import typer

from pipelines.cli.console import console, friendly_errors, quiet_tools

app = typer.Typer(help="Commands that `dvc repro` runs, one per DVC stage (see dvc.yaml).", no_args_is_help=True)


@app.command("validate")
@friendly_errors
def validate() -> None:
    """Re-check all landed batches and write data/validated/<batch>.parquet."""
    from pipelines.core import artifacts
    from pipelines.core.settings import get_settings
    from pipelines.data import validate as stage

    s = get_settings()
    report = stage.run(
        s.raw_dir, s.validated_dir, s.metrics_dir / artifacts.VALIDATION_METRICS, s.contract, chunk_rows=s.chunk_rows
    )
    console.print(f"  {report.summary()}")


@app.command("version")
@friendly_errors
def version() -> None:
    """Split validated batches into the versioned train/holdout dataset."""
    from pipelines.core.settings import get_settings
    from pipelines.data import version as stage

    s = get_settings()
    manifest = stage.run(
        s.validated_dir,
        s.dataset_dir,
        s.contract,
        holdout_share=s.params.version.holdout_share,
        chunk_rows=s.chunk_rows,
    )
    console.print(
        f"  dataset: {manifest.train_rows} train / {manifest.holdout_rows} holdout rows "
        f"from {len(manifest.batches)} batches"
    )


@app.command("train")
@friendly_errors
def train() -> None:
    """Fit the model on the train split of data/dataset/."""
    from pipelines.core.settings import get_settings
    from pipelines.training import train as stage

    s = get_settings()
    info = stage.run(s.dataset_dir, s.model_dir, s.contract, s.params.train, s.params.evaluate)
    decided = f", threshold {info['threshold']}" if info["threshold"] is not None else ""
    console.print(f"  model: {info['model_kind']} ({info['task']}) on {info['train_rows']} rows{decided}")


@app.command("evaluate")
@friendly_errors
def evaluate() -> None:
    """Score the model on the holdout split of data/dataset/."""
    quiet_tools()
    from pipelines.core.params import TASK_METRICS
    from pipelines.core.settings import get_settings
    from pipelines.training import evaluate as stage

    s = get_settings()
    metrics = stage.run(
        s.model_dir, s.dataset_dir, s.metrics_dir, s.plots_dir, contract=s.contract, params=s.params.evaluate
    )
    shown = [k for k in (*TASK_METRICS[s.contract.task], "threshold", "rows") if k in metrics]
    console.print("  holdout: " + ", ".join(f"{k}={metrics[k]:g}" for k in shown) + "; all in metrics/, plots/")

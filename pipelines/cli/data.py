"""`relay data ...`: the data engineer's everyday commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.console import console, err, friendly_errors
from pipelines.output import banner

app = typer.Typer(help="Data engineer: ingest, validate and version order batches.", no_args_is_help=True)


@app.command("ingest")
@friendly_errors
def ingest(
    batch: Annotated[int, typer.Option(help="Generator batch number (week) to land.")] = 1,
    scenario: Annotated[list[str] | None, typer.Option(help="Drift scenario(s) to switch on.")] = None,
    file: Annotated[Path | None, typer.Option(help="Land this CSV/Parquet file instead of generating.")] = None,
    batch_id: Annotated[str | None, typer.Option(help="Batch id for --file (default: the file name).")] = None,
) -> None:
    """Land one batch in data/raw/ (only if it meets the data contract)."""
    from pipelines.data import ingest as stage
    from pipelines.settings import get_settings

    s = get_settings()
    p = s.params.ingest
    if (file is not None or p.source == "file") and scenario:
        raise ValueError("--scenario applies to the synthetic generator only, not to --file or ingest.source: file")
    if file is None and batch_id is not None and p.source != "file":
        raise ValueError("--batch-id names a --file batch; generator batches are named from --batch")
    if file is not None:
        bid, frame = stage.from_file(file, batch_id)
    elif p.source == "file":
        bid, frame = stage.from_file(s.root / str(p.path), batch_id)
    else:
        bid, frame = stage.from_generator(batch, p.rows_per_batch, p.seed, scenario or [])
    banner("ingest", bid)
    result = stage.run(bid, frame, s.raw_dir, s.quarantine_dir, min_rows=s.params.validate_.min_rows)
    console.print(f"{result.status}: {result.path} ({result.rows} rows)")


@app.command("validate")
@friendly_errors
def validate(path: Annotated[Path, typer.Argument(help="CSV or Parquet file to check.")]) -> None:
    """Check a file against the data contract and print the report; stores nothing."""
    from pipelines.data.validate import check_frame, read_table

    report = check_frame(read_table(path), str(path))
    if report.ok:
        console.print(f"[green]valid[/] {report.summary()}")
        return
    err.print(f"[red]invalid[/] {report.summary()}")
    raise typer.Exit(1)

"""`relay data ...`: the data engineer's everyday commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pipelines.cli.console import console, err, friendly_errors
from pipelines.core.output import banner

if TYPE_CHECKING:
    from pipelines.core.settings import Settings
    from pipelines.data.ingest import IngestResult, Landing
    from pipelines.data.sources import ReadOptions

app = typer.Typer(help="Data engineer: ingest, validate and version batches.", no_args_is_help=True)

DelimiterOpt = Annotated[str | None, typer.Option(help="CSV delimiter (default: ingest.delimiter).")]
EncodingOpt = Annotated[str | None, typer.Option(help="CSV text encoding (default: ingest.encoding).")]


def _read_options(s: Settings, delimiter: str | None, encoding: str | None) -> ReadOptions:
    from pipelines.data.sources import ReadOptions

    p = s.params.ingest
    if delimiter is not None and len(delimiter) != 1:
        raise ValueError(f"--delimiter must be one character, got {delimiter!r}")
    return ReadOptions(
        format=p.format,
        delimiter=delimiter or p.delimiter,
        encoding=encoding or p.encoding,
        chunk_rows=s.chunk_rows,
    )


def _print(result: IngestResult) -> None:
    kept = f", {result.quarantined} rows quarantined" if result.quarantined else ""
    console.print(f"{result.status}: {result.path} ({result.rows} rows{kept})")


@app.command("ingest")
@friendly_errors
def ingest(  # noqa: PLR0913, PLR0917 (Typer maps each parameter to one option)
    batch: Annotated[int, typer.Option(min=1, max=9999, help="Generator batch number (week) to land.")] = 1,
    scenario: Annotated[list[str] | None, typer.Option(help="Drift scenario(s) to switch on (generator).")] = None,
    file: Annotated[Path | None, typer.Option(help="Land this CSV/Parquet file instead of ingest.source.")] = None,
    folder: Annotated[Path | None, typer.Option(help="Land every CSV/Parquet file of this folder.")] = None,
    url: Annotated[str | None, typer.Option(help="Download and land this http(s) URL.")] = None,  # part:url-source
    batch_id: Annotated[str | None, typer.Option(help="Batch id for --file/--url (default: the file name).")] = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
) -> None:
    """Land batches in data/raw/ from ingest.source in params.yaml, or from --file/--folder/--url.

    Only data that meets the contract lands; rows within validate.max_invalid_share are quarantined.
    """
    from pipelines.core.settings import get_settings
    from pipelines.data import ingest as stage

    s = get_settings()
    p = s.params.ingest
    options: dict[str, Path | str | None] = {"file": file, "folder": folder}
    options["url"] = url  # part:url-source
    given = [name for name, value in options.items() if value is not None]
    if len(given) > 1:
        raise ValueError(f"give one source at a time, not {' and '.join(f'--{name}' for name in given)}")
    source, location = (given[0], str(options[given[0]])) if given else (p.source, p.path)
    if source != "generator" and scenario:
        raise ValueError("--scenario applies to the synthetic generator only")
    if batch_id is not None and source not in ("file", "url"):
        raise ValueError("--batch-id names a single file or URL batch; generator batches are named from --batch")
    landing = stage.Landing.from_settings(s, _read_options(s, delimiter, encoding))
    if source == "generator":
        bid = f"batch-{batch:04d}"
        banner("ingest", f"{bid} from the synthetic generator")
        chunks = stage.generator_chunks(batch, p.rows_per_batch, p.seed, scenario or [])
        _print(stage.run(bid, chunks, landing, origin="generator"))
    elif source == "file":
        path = Path(str(location)) if file else s.root / str(location)
        banner("ingest", str(path))
        _print(stage.from_file(path, landing, batch=batch_id))
    elif source == "folder":
        path = Path(str(location)) if folder else s.root / str(location)
        banner("ingest", f"every file in {path}")
        failed = 0
        for item, outcome in stage.from_folder(path, landing):
            if isinstance(outcome, Exception):
                failed += 1
                err.print(f"[red]refused[/] {item.name}: {outcome}")
            else:
                _print(outcome)
        if failed:
            raise typer.Exit(1)
    else:
        _print(_download(s, str(location), landing, batch_id))


def _download(s: Settings, url: str, landing: Landing, batch_id: str | None) -> IngestResult:
    try:
        from pipelines.data import download
    except ImportError:  # a project made with `relay new --no-url-source`
        raise ValueError(
            "ingest.source 'url' needs the url-source part, and this project was made without it"
        ) from None
    banner("ingest", url)
    p = s.params.ingest
    limits = download.Limits(p.timeout_s, p.deadline_s, p.max_download_mb << 20)
    return download.from_url(url, landing, s.downloads_dir, batch=batch_id, limits=limits)


@app.command("validate")
@friendly_errors
def validate(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file to check.")],
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
) -> None:
    """Check a file against the data contract and print the report; stores nothing (exit 0 valid, 1 invalid)."""
    from pipelines.core.contract_checks import check_chunks
    from pipelines.core.settings import get_settings
    from pipelines.data.sources import iter_file

    s = get_settings()
    column = s.contract.batch_column
    # Ingest writes the batch column, so a file without it is checked as ingest would land it.
    chunks = (
        chunk if column in chunk.columns else chunk.assign(**{column: path.stem})
        for chunk in iter_file(path, _read_options(s, delimiter, encoding))
    )
    report = check_chunks(chunks, s.contract, str(path))
    if report.ok:
        console.print(f"[green]valid[/] {report.summary()}")
        return
    err.print(f"[red]invalid[/] {report.summary()}")
    raise typer.Exit(1)


@app.command("contract")
@friendly_errors
def contract() -> None:
    """Print the data contract (contract.yaml): every column, its kind and its rules."""
    from pipelines.core.settings import get_settings

    c = get_settings().contract
    table = Table(title=f"data contract {c.name!r}: {c.description}", title_justify="left")
    for col in ("column", "kind", "rules", "example"):
        table.add_column(col, overflow="fold")
    for name, column in c.columns.items():
        rules = []
        if column.minimum is not None or column.maximum is not None:
            low, high = ("" if v is None else f"{v:g}" for v in (column.minimum, column.maximum))
            rules.append(f"{low}..{high}")
        if column.allowed and column.kind != "target":
            rules.append(" < ".join(column.allowed) if column.kind == "ordinal" else ", ".join(column.allowed))
        if column.pattern:
            rules.append(f"matches {column.pattern}")
        if column.nullable:
            rules.append(f"nulls ≤ {c.max_null_share(name):.0%}")
        if name == c.id_column:
            rules.append("unique across batches")
        if name == c.target:
            labels = f"positive {c.labels[1]!r}, negative {c.labels[0]!r}" if c.task == "binary" else ""
            rules.append(f"{c.task}" + (f": {labels or ', '.join(map(str, c.labels))}" if c.labels else ""))
        if column.kind == "ignore":
            rules.append("kept in the data; not a feature, not asked for by the API")
        table.add_row(name, column.kind, "; ".join(rules), "" if column.example is None else str(column.example))
    console.print(table)
    limits = f"batch: at least {c.batch.min_rows} rows" + (f", at most {c.batch.max_rows}" if c.batch.max_rows else "")
    unique = repr(c.id_column) if c.id_column else "none (the split hashes each record's values)"
    console.print(f"{limits}; id {unique}, batch {c.batch_column!r}, target {c.target!r}")


@app.command("versions")
@friendly_errors
def versions() -> None:
    """List the data versions (DVC md5 of data/dataset): rows, batches and when each was first seen."""
    from pipelines.core.settings import get_settings
    from pipelines.data import catalog

    s = get_settings()
    now = catalog.record(s.root, s.dataset_dir, s.versions_catalog) if (s.root / "dvc.lock").is_file() else None
    found = catalog.read(s.versions_catalog)
    if not found:
        console.print("no data versions yet: land batches and run `relay pipeline` (or `dvc repro version`)")
        return
    table = Table(title="data versions (newest last; * = in the workspace now)", title_justify="left")
    for col in ("", "version", "first seen", "rows", "train / holdout", "batches"):
        table.add_column(col, overflow="fold")
    for v in found:
        batches = ", ".join(v.batches) if len(v.batches) <= 4 else f"{v.batches[0]} … {v.batches[-1]}"
        table.add_row(
            "*" if now and v.version == now.version else "",
            v.version[:12],
            v.created_at[:16].replace("T", " "),
            str(v.rows),
            f"{v.train_rows} / {v.holdout_rows}",
            f"{batches} ({len(v.batches)})",
        )
    console.print(table)


@app.command("checkout")
@friendly_errors
def checkout(version: Annotated[str, typer.Argument(help="Version md5, or its first 6+ characters.")]) -> None:
    """Restore a data version into data/validated and data/dataset and point dvc.lock at it.

    Train on it with `dvc repro --single-item train evaluate`; `relay pipeline` rebuilds from data/raw.
    """
    from pipelines.core.settings import get_settings
    from pipelines.data import catalog

    s = get_settings()
    restored = catalog.checkout(s.root, s.dataset_dir, s.versions_catalog, version, remote_url=s.dvc_remote)
    console.print(
        f"checked out data version {restored.version} ({restored.rows} rows, {len(restored.batches)} batches); "
        "`dvc status` now shows the data stages as changed against data/raw"
    )


@app.command("reset")
@friendly_errors
def reset(yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking.")] = False) -> None:
    """Start over with another dataset: remove landed, quarantined, validated and versioned data. DVC's cache
    and remote, the data version catalog, models and every store stay."""
    from pipelines.cli.clean import remove_after_asking
    from pipelines.core.settings import get_settings

    s = get_settings()
    targets = [p for p in (s.raw_dir, s.quarantine_dir, s.validated_dir, s.dataset_dir, s.downloads_dir) if p.exists()]
    if remove_after_asking(targets, s.root, yes=yes, nothing="no landed data: nothing to reset"):
        console.print(
            "data reset: land the new dataset with `relay data ingest`; `relay data versions` still lists the old"
        )

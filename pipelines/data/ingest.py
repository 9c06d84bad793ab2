"""Ingest (owner: data engineer): land one batch of records from a source under a batch id.

Takes a batch id and the batch's rows as chunks, from the synthetic generator, a CSV/Parquet file, each file
of a landing folder, or an HTTP(S) URL (see `sources`); hands over `data/raw/<batch>.parquet`. Only batches
that meet the data contract land, written to a temporary file and renamed into place, so a failed or
interrupted run leaves `data/raw/` as it was. Rows that break the contract fail the batch, unless their share
is within `validate.max_invalid_share`: then they go to `data/quarantine/` with their reasons and the rest
lands. Landing the same content again is a no-op; different content under a landed batch id is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from pipelines.core.atomic import write_json, write_parquet
from pipelines.core.contract import Contract
from pipelines.core.contract_checks import ContractViolation, Screen, ValidationReport, to_arrow
from pipelines.core.ownership import stage
from pipelines.data import sources

if TYPE_CHECKING:
    from pipelines.core.settings import Settings

QUARANTINE_ROWS = 100_000  # failing rows kept per attempt; enough to study, bounded for huge broken files
FINGERPRINT_KEY = b"relay.fingerprint"
DEFAULT_OPTIONS = sources.ReadOptions()


class Landing(BaseModel):
    """Where a batch lands and what it must meet: the same for every source of one ingest."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    contract: Contract
    raw_dir: Path
    quarantine_dir: Path
    # Rows that break the contract are quarantined, and the rest lands, while their share stays within this.
    max_invalid_share: float = 0.0
    options: sources.ReadOptions = DEFAULT_OPTIONS  # how files are read

    @classmethod
    def from_settings(cls, settings: Settings, options: sources.ReadOptions = DEFAULT_OPTIONS) -> Landing:
        s = settings
        tolerance = s.params.validate_.max_invalid_share
        return cls(
            contract=s.contract,
            raw_dir=s.raw_dir,
            quarantine_dir=s.quarantine_dir,
            max_invalid_share=tolerance,
            options=options,
        )


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    path: Path
    rows: int
    quarantined: int
    status: str  # "landed" | "unchanged"


def check_batch_id(batch: str, contract: Contract) -> None:
    pattern = contract.column(contract.batch_column).pattern or r"^[A-Za-z0-9_.-]{1,64}$"
    if not re.fullmatch(pattern, batch) or batch.startswith(".") or "/" in batch or "\\" in batch:
        raise ValueError(f"batch id {batch!r} is not allowed: it must match {pattern} and not start with '.'")


RESET_HINT = "start over with `relay data reset` (it asks first; DVC's cache keeps every recorded data version)"


def foreign_batches(raw_dir: Path, contract: Contract) -> list[str]:
    """Landed batches that belong to another dataset: landed under another contract, or lacking a column this
    one has. Only file footers are read."""
    foreign = []
    for path in sorted(raw_dir.glob("*.parquet")):
        meta = pq.read_schema(path)
        landed_under = (meta.metadata or {}).get(b"relay.contract", b"").decode()
        if (landed_under and landed_under != contract.name) or not set(contract.columns) <= set(meta.names):
            foreign.append(path.stem)
    return foreign


def landed_ids(raw_dir: Path, contract: Contract, *, exclude: Path | None = None) -> set[str]:
    """Ids of every landed batch (but `exclude`): only the id column is read, so this stays cheap."""
    ids: set[str] = set()
    if contract.id_column is None:
        return ids  # no unique id to keep unique
    for path in sorted(raw_dir.glob("*.parquet")):
        if path != exclude:
            ids.update(pq.read_table(path, columns=[contract.id_column]).column(0).to_pylist())
    return ids


def fingerprint_of(path: Path) -> str | None:
    meta = pq.read_metadata(path).metadata or {}
    value = meta.get(FINGERPRINT_KEY)
    return value.decode() if value else None


def _stamp(chunk: pd.DataFrame, column: str, batch: str) -> pd.DataFrame:
    """Write the batch id into the batch column; a source that carries another batch id there is refused."""
    if column in chunk.columns:
        other = chunk[column].dropna().astype(str)
        other = other[other != batch]
        if len(other):
            raise sources.SourceError(
                f"column {column!r} holds batch id {other.iloc[0]!r} but the batch lands as {batch!r}; "
                f"drop the column from the source or land it under that id"
            )
    return chunk.assign(**{column: batch})


def _quarantine(quarantine_dir: Path, batch: str, report: ValidationReport, bad: list[pd.DataFrame]) -> Path:
    """Keep the attempt's report and failing rows under their own time-stamped folder (earlier ones stay)."""
    folder = quarantine_dir / batch / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    write_json(report.to_dict(), folder / "report.json")
    if bad:
        rows = pd.concat(bad)
        # As text: failing values are often of the wrong type, and the file must still be writable.
        as_text = rows.astype(str).where(rows.notna(), None).reset_index(names="_row")
        write_parquet(as_text, folder / "rows.parquet")
    return folder


@stage("ingest")
def run(batch: str, chunks: Iterable[pd.DataFrame], landing: Landing, *, origin: str = "") -> IngestResult:
    """Land `chunks` as batch `batch` in `landing.raw_dir` if they meet the contract."""
    contract, raw_dir, quarantine_dir = landing.contract, landing.raw_dir, landing.quarantine_dir
    check_batch_id(batch, contract)
    if foreign := foreign_batches(raw_dir, contract):
        raise ValueError(
            f"{raw_dir} holds batches of another dataset, landed under another contract or without this "
            f"contract's columns: {', '.join(foreign[:5])}{' and more' if len(foreign) > 5 else ''}; {RESET_HINT}"
        )
    target = raw_dir / f"{batch}.parquet"
    screen = Screen(contract, batch, landed_ids(raw_dir, contract, exclude=target))
    digest = hashlib.blake2b(digest_size=16)
    bad_rows: list[pd.DataFrame] = []
    kept_bad = 0
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp = raw_dir / f".{batch}.parquet.{os.getpid()}.tmp"
    try:
        with pq.ParquetWriter(tmp, contract.arrow_schema()) as writer:
            for chunk in chunks:
                good, bad = screen.screen(_stamp(chunk, contract.batch_column, batch))
                if len(good):
                    digest.update(pd.util.hash_pandas_object(good, index=False).to_numpy().tobytes())
                    writer.write_table(to_arrow(good, contract))
                if len(bad) and kept_bad < QUARANTINE_ROWS:
                    bad_rows.append(bad.head(QUARANTINE_ROWS - kept_bad))
                    kept_bad += len(bad_rows[-1])
                if screen.structural:
                    break
            report = screen.finish(landing.max_invalid_share)
            fingerprint = digest.hexdigest()
            writer.add_key_value_metadata(
                {FINGERPRINT_KEY.decode(): fingerprint, "relay.contract": contract.name, "relay.origin": origin}
            )
        if not report.ok:
            folder = _quarantine(quarantine_dir, batch, report, bad_rows)
            raise ContractViolation(report, f"batch not landed; report and failing rows in {folder}")
        if target.exists():
            if fingerprint_of(target) == fingerprint:
                return IngestResult(batch, target, screen.rows - report.quarantined, 0, "unchanged")
            raise FileExistsError(
                f"batch {batch!r} already landed at {target} with different content; "
                "use a new batch id (landed batches are immutable)"
            )
        os.replace(tmp, target)
        if report.quarantined:
            _quarantine(quarantine_dir, batch, report, bad_rows)
        return IngestResult(batch, target, screen.rows - report.quarantined, report.quarantined, "landed")
    finally:
        tmp.unlink(missing_ok=True)


def generator_chunks(batch: int, rows: int, seed: int, scenarios: Iterable[str] = ()) -> Iterator[pd.DataFrame]:
    from pipelines.data.generator import generate_chunks

    return generate_chunks(batch, rows, seed, list(scenarios))


def from_file(path: Path, landing: Landing, *, batch: str | None = None, origin: str = "") -> IngestResult:
    """Land one CSV/Parquet file; the batch id defaults to the file name without its suffix."""
    chunks = sources.iter_file(path, landing.options)
    return run(batch or path.stem, chunks, landing, origin=origin or str(path))


def from_folder(folder: Path, landing: Landing) -> list[tuple[Path, IngestResult | Exception]]:
    """Land every file of a landing folder as its own batch. One bad file does not hold back the others;
    each file's outcome (a result or the error that refused it) is returned in name order."""
    outcomes: list[tuple[Path, IngestResult | Exception]] = []
    for path in sources.list_folder(folder, landing.options.format):
        try:
            outcomes.append((path, from_file(path, landing)))
        except (ValueError, FileExistsError) as exc:
            outcomes.append((path, exc))
    return outcomes

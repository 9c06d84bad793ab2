"""Ingest (owner: data engineer): land one batch of orders from a source under a batch id.

Takes a source (the synthetic generator, or a CSV/Parquet file) and hands over `data/raw/<batch>.parquet`,
written atomically. Only batches that pass the data contract land; a failing batch is kept in
`data/quarantine/` with its report and nothing in `data/raw/` changes. Landing the same batch again is a
no-op; landing different content under an existing batch id is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines import contract
from pipelines.atomic import write_json, write_parquet
from pipelines.data.generator import batch_id, generate_batch
from pipelines.data.validate import ContractViolation, check_frame, read_table
from pipelines.ownership import stage


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    path: Path
    rows: int
    status: str  # "landed" | "unchanged"


def from_generator(batch: int, rows: int, seed: int, scenarios: Sequence[str] = ()) -> tuple[str, pd.DataFrame]:
    return batch_id(batch), generate_batch(batch, rows, seed, scenarios)


def from_file(path: Path, batch: str | None = None) -> tuple[str, pd.DataFrame]:
    frame = read_table(path)
    return batch or path.stem, frame


@stage("ingest")
def run(batch: str, frame: pd.DataFrame, raw_dir: Path, quarantine_dir: Path, *, min_rows: int = 1) -> IngestResult:
    """Land `frame` as batch `batch` in `raw_dir` if it meets the contract."""
    pattern = contract.column("batch_id").pattern or ""
    if not re.fullmatch(pattern, batch) or batch.startswith("."):
        raise ValueError(f"batch id {batch!r} is not allowed: use letters, digits, '.', '_' or '-' (pattern {pattern})")
    target = raw_dir / f"{batch}.parquet"
    report = check_frame(frame, batch, min_rows=min_rows)
    if not report.ok:
        write_parquet(frame, quarantine_dir / f"{batch}.parquet")
        write_json(report.to_dict(), quarantine_dir / f"{batch}.report.json")
        raise ContractViolation(report)
    if target.exists():
        existing = pd.read_parquet(target)
        if existing.reset_index(drop=True).equals(frame.reset_index(drop=True)):
            return IngestResult(batch, target, len(frame), "unchanged")
        raise FileExistsError(
            f"batch {batch!r} already landed at {target} with different content; "
            "use a new batch id (landed batches are immutable)"
        )
    write_parquet(frame, target)
    return IngestResult(batch, target, len(frame), "landed")

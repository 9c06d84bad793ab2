"""Validate (owner: data engineer): check batches against the data contract.

Takes landed batches (`data/raw/<batch>.parquet`) and `contract.yaml`; hands over `data/validated/<batch>.parquet`,
one checked and type-coerced file per batch, and `metrics/validation.json`; or, when anything breaks the
contract, a report naming every failing column with sample rows and a non-zero exit, leaving the previous
validated data (and so `dvc.lock` and everything downstream) as it was.

The same screening runs at the door (ingest) and here: here it re-checks every landed batch against the
current contract (which may have changed since landing) and checks what no single batch can, such as ids
unique across batches. The checks themselves are `pipelines/core/contract_checks.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.core.atomic import replace_dir, write_json
from pipelines.core.contract import Contract
from pipelines.core.contract_checks import (
    BATCH,
    SAMPLE_ROWS,
    ContractViolation,
    Screen,
    ValidationReport,
    _batch_problem,
    check_chunks,
    check_frame,
    to_arrow,
)
from pipelines.core.ownership import stage
from pipelines.data import sources
from pipelines.data.ingest import RESET_HINT, foreign_batches

# The checks live in the contracts layer (pipelines/core/contract_checks.py) so that other owners' stages can use
# them without importing this stage; they are re-exported here for the data engineer's own code.
__all__ = [
    "BATCH",
    "SAMPLE_ROWS",
    "ContractViolation",
    "Screen",
    "ValidationReport",
    "check_chunks",
    "check_frame",
    "run",
    "to_arrow",
]


@stage("validate")
def run(raw_dir: Path, out_dir: Path, report_path: Path, contract: Contract, *, chunk_rows: int) -> ValidationReport:
    """Re-check every landed batch and ids across batches; replace `out_dir` only if all of it passes."""
    files = sorted(raw_dir.glob("*.parquet"))
    if not files:
        empty = ValidationReport(str(raw_dir), 0, [_batch_problem("at least one landed batch", 0)])
        write_json({**empty.to_dict(), "batches": {}}, report_path)
        raise ContractViolation(empty)
    foreign = foreign_batches(raw_dir, contract)
    if foreign:
        problem = _batch_problem(f"no batches of another dataset landed; {RESET_HINT}", ", ".join(foreign[:5]))
        stray = ValidationReport(str(raw_dir), 0, [problem])
        write_json({**stray.to_dict(), "batches": {}}, report_path)
        raise ContractViolation(stray)
    seen: set[str] = set()
    problems: list[dict[str, Any]] = []
    batches: dict[str, int] = {}
    rows = 0
    staging = out_dir.with_name(f".{out_dir.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for path in files:
            screen = Screen(contract, path.name, seen, encoded=True)
            with pq.ParquetWriter(staging / path.name, contract.arrow_schema()) as writer:
                for chunk in sources.iter_file(path, sources.ReadOptions(format="parquet", chunk_rows=chunk_rows)):
                    good, _ = screen.screen(chunk)
                    writer.write_table(to_arrow(good, contract))
            # Landed batches were accepted whole or with their bad rows already quarantined, so here any
            # failing row means the contract changed since landing (or a file was edited): stop and say where.
            report = screen.finish(0.0)
            problems += [{**p, "batch": path.stem} for p in report.problems]
            batches[path.stem] = report.rows
            rows += report.rows
        # Project-relative when possible: the report is a DVC metric, and an absolute path would differ
        # between clones and DVC's temporary experiment copies, showing up as a change in every diff.
        label = raw_dir.resolve()
        label_text = str(label.relative_to(Path.cwd())) if label.is_relative_to(Path.cwd()) else str(label)
        report = ValidationReport(label_text, rows, problems)
        write_json({**report.to_dict(), "batches": batches}, report_path)
        if not report.ok:
            raise ContractViolation(report)
        replace_dir(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report

"""Validate (owner: data engineer): check order batches against the data contract.

Takes raw batch files and the contract in `pipelines.contract`; hands over one validated table,
`data/validated/orders.parquet`, or a report that names every failing column with sample rows. This
function writes the table only after every batch passes. (Under `dvc repro`, DVC removes a stage's outputs
before running it; the training flow checks them back out of DVC's cache when a stage fails.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.errors

from pipelines import contract
from pipelines.atomic import write_json, write_parquet
from pipelines.ownership import stage

SAMPLE_ROWS = 5


@dataclass
class ValidationReport:
    source: str
    rows: int
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def failing_columns(self) -> list[str]:
        return sorted({str(p["column"]) for p in self.problems})

    def summary(self) -> str:
        if self.ok:
            return f"{self.source}: {self.rows} rows valid"
        lines = [f"{self.source}: {self.rows} rows, contract violated in: {', '.join(self.failing_columns)}"]
        for p in self.problems:
            lines.append(f"  - {p['column']}: {p['check']} ({p['failures']} failing; e.g. {p['examples']})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rows": self.rows, "ok": self.ok, "problems": self.problems}


class ContractViolation(ValueError):  # noqa: N818 (reads as what happened: "a contract violation")
    """A batch does not satisfy the data contract; `report` says where."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.summary())
        self.report = report


def check_frame(frame: pd.DataFrame, source: str, *, min_rows: int = 1) -> ValidationReport:
    """Check a frame against the contract without storing anything."""
    report = ValidationReport(source=source, rows=len(frame))
    if len(frame) < min_rows:
        report.problems.append(
            {"column": "<batch>", "check": f"at least {min_rows} rows", "failures": 1, "examples": [len(frame)]}
        )
    try:
        contract.schema().validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases.copy()
        # Missing and unknown columns are reported against the schema, with the column as the failure case.
        structural = cases["check"].isin(["column_in_dataframe", "column_in_schema"])
        cases.loc[structural, "column"] = cases.loc[structural, "failure_case"]
        cases["column"] = cases["column"].fillna("<frame>").astype(str)
        for (column, check), group in cases.groupby(["column", "check"], sort=True):
            report.problems.append(
                {
                    "column": column,
                    "check": str(check),
                    "failures": len(group),
                    "examples": [_plain(v) for v in group["failure_case"].head(SAMPLE_ROWS)],
                    "rows": [_plain(v) for v in group["index"].dropna().head(SAMPLE_ROWS)],
                }
            )
    return report


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, with a clear error for anything else."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
    except Exception as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


@stage("validate")
def run(raw_dir: Path, output: Path, report_path: Path, *, min_rows: int) -> ValidationReport:
    """Validate every raw batch and the union of them; write the validated table only if all pass."""
    files = sorted(raw_dir.glob("*.parquet"))
    if not files:
        empty = ValidationReport(
            str(raw_dir), 0, [{"column": "<batch>", "check": "at least one batch file", "failures": 1, "examples": []}]
        )
        write_json({**empty.to_dict(), "batches": []}, report_path)
        raise ContractViolation(empty)
    frames, problems = [], []
    for path in files:
        frame = read_table(path)
        rep = check_frame(frame, path.name, min_rows=min_rows)
        problems += [{**p, "batch": path.name} for p in rep.problems]
        frames.append(frame)
    combined = pd.concat(frames, ignore_index=True)
    # Order ids must be unique across batches too, not only within one.
    overall = check_frame(combined, str(raw_dir))
    problems += [
        p
        for p in overall.problems
        if p["column"] == "order_id" and not any(q["column"] == "order_id" for q in problems)
    ]
    report = ValidationReport(str(raw_dir), len(combined), problems)
    write_json({**report.to_dict(), "batches": [f.stem for f in files]}, report_path)
    if not report.ok:
        raise ContractViolation(report)
    validated = contract.schema().validate(combined)
    write_parquet(validated.sort_values("order_id", ignore_index=True), output)
    return report

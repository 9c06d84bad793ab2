"""The data contract's row and batch checks, shared by everyone who must not accept bad rows.

Part of the contracts layer (owner: data engineer, who writes `contract.yaml`): ingest screens at the
door, the validate stage re-checks landed batches, and the data scientist's train and evaluate stages
refuse a split that no longer meets the contract. Keeping the checks here, below the stages, means no
stage imports another owner's stage to use them. `Screen` works chunk by chunk, so a batch of any size
is checked in bounded memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.core.contract import TEXT_KINDS, Contract, label_key

SAMPLE_ROWS = 5
STRUCTURAL = ("column_in_dataframe", "column_in_schema")
BATCH = "<batch>"


@dataclass
class ValidationReport:
    source: str
    rows: int
    problems: list[dict[str, Any]] = field(default_factory=list)
    quarantined: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def failing_columns(self) -> list[str]:
        return sorted({str(p["column"]) for p in self.problems})

    def summary(self) -> str:
        kept = f", {self.quarantined} quarantined" if self.quarantined else ""
        if self.ok:
            return f"{self.source}: {self.rows} rows valid{kept}"
        lines = [f"{self.source}: {self.rows} rows{kept}; contract violated in: {', '.join(self.failing_columns)}"]
        for p in self.problems:
            where = f" in {p['batch']}" if p.get("batch") else ""
            rows = f"; rows {p['rows']}" if p.get("rows") else ""
            lines.append(
                f"  - {p['column']}{where}: {p['check']} ({p['failures']} failing; e.g. {p['examples']}{rows})"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class ContractViolation(ValueError):  # noqa: N818 (reads as what happened: "a contract violation")
    """A batch does not satisfy the data contract; `report` says where."""

    def __init__(self, report: ValidationReport, note: str = "") -> None:
        super().__init__(report.summary() + (f"\n{note}" if note else ""))
        self.report = report


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


class Screen:
    """Check one batch chunk by chunk: row problems, batch-level rules, and ids against those seen before.

    `screen(chunk)` returns the chunk's valid rows, coerced to the contract's types, and the failing rows
    with a `_reason` column. `finish(max_invalid_share)` applies the batch rules and the tolerance and
    returns the report; the batch passes only if that report is ok.

    Data from outside (`encoded=False`, at ingest and `relay data validate`) carries the target's labels as
    its source writes them; they are encoded here, once, to the codes the model sees (binary: 1 positive, 0
    negative; multiclass: each class's place in `allowed`; regression: the number), and anything else is
    refused. Landed data (`encoded=True`, for the validate stage and training) already holds the codes.
    """

    def __init__(
        self, contract: Contract, source: str, seen_ids: set[str] | None = None, *, encoded: bool = False
    ) -> None:
        self.contract = contract
        self.source = source
        self.encoded = encoded
        self.seen = seen_ids if seen_ids is not None else set()
        self.rows = 0
        self.invalid = 0
        self.nulls = dict.fromkeys(contract.columns, 0)
        self._problems: dict[tuple[str, str], dict[str, Any]] = {}
        self.structural = False

    def _note(self, column: str, check: str, examples: list[Any], rows: list[Any]) -> None:
        p = self._problems.setdefault(
            (column, check), {"column": column, "check": check, "failures": 0, "examples": [], "rows": []}
        )
        p["failures"] += len(examples)
        p["examples"] += [_plain(v) for v in examples[: SAMPLE_ROWS - len(p["examples"])]]
        p["rows"] += [_plain(v) for v in rows[: SAMPLE_ROWS - len(p["rows"])]]

    def screen(self, chunk: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The chunk's rows that meet the contract, and the others with their reasons (`_reason`)."""
        self.rows += len(chunk)
        if self.structural:
            return chunk.iloc[:0], chunk.iloc[:0]
        for name in (c for c in self.contract.columns if c in chunk.columns):
            self.nulls[name] += int(chunk[name].isna().sum())
        reasons: dict[Any, str] = {}
        good = self._schema_checked(self._normalised(chunk, reasons), reasons)
        if good is None:
            self.structural = True
            return chunk.iloc[:0], chunk.iloc[:0]
        good = self._first_sightings(good, reasons)
        bad = chunk[chunk.index.isin(list(reasons))].astype(object)
        bad["_reason"] = [reasons[i] for i in bad.index]
        self.invalid += len(bad)
        return good[list(self.contract.columns)], bad

    def _normalised(self, chunk: pd.DataFrame, reasons: dict[Any, str]) -> pd.DataFrame:
        """Lossless conversions pandera's coercion gets wrong: integer codes stored as floats (a Parquet or
        pandas column with nulls) become "1", not "1.0", in text columns; raw target labels become 0 and 1,
        and rows with any other label are noted and left out."""
        changed: dict[str, pd.Series] = {}
        for name, column in self.contract.columns.items():
            if name not in chunk.columns:
                continue
            values = chunk[name]
            if column.kind in TEXT_KINDS and values.dtype.kind == "f":
                whole = values.dropna()
                if len(whole) and bool(np.all(np.mod(whole.to_numpy(), 1) == 0)):
                    changed[name] = values.map(lambda v: None if pd.isna(v) else str(int(v)))
            elif column.integer_codes and values.dtype.kind in "OT":
                # The same column written to CSV from floats reads "2.0": the level 2, nothing lost.
                changed[name] = values.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
            elif column.kind == "timestamp" and values.dtype.kind in "iuf":
                changed[name] = self._epoch_times(name, values, reasons)
            if name == self.contract.target and not self.encoded:
                changed[name] = self._encoded_labels(values, reasons)
        if not changed:
            return chunk
        out = chunk.assign(**changed)
        return out.drop(index=[i for i in reasons if i in out.index])

    def _epoch_times(self, name: str, values: pd.Series, reasons: dict[Any, str]) -> pd.Series:
        """Numbers in a time column, as times in the contract's `unit`; without a unit every such row is refused
        (pandera would read them as nanoseconds: dates in 1970)."""
        unit = self.contract.column(name).unit
        if unit is not None:
            return pd.to_datetime(values, unit=unit)
        check = "a number, not a time: give the column a `unit` (s, ms, us or ns) in the contract"
        self._note(name, check, values.tolist(), values.index.tolist())
        reasons |= {i: f"{name}: a number, not a time" for i in values.index if i not in reasons}
        return values

    def _encoded_labels(self, values: pd.Series, reasons: dict[Any, str]) -> pd.Series:
        name, target = self.contract.target, self.contract.column(self.contract.target)
        if target.task_kind == "regression":
            # A number stays a number; true/false or text is no value to learn (pandera would coerce true to 1.0).
            numbers = pd.Series(np.nan, index=values.index) if values.dtype.kind == "b" else values
            encoded = pd.to_numeric(numbers, errors="coerce")
            unknown = values.notna() & encoded.isna()
            check = "a number (contract: a regression target)"
        else:
            codes = target.codes()
            keys = values.map(label_key)
            unknown = keys.notna() & ~keys.isin(list(codes))
            encoded = keys.map(codes)
            check = f"label is one of {list(target.classes)} (contract: the target's labels)"
        if unknown.any():
            self._note(name, check, values[unknown].tolist(), values.index[unknown].tolist())
            reasons |= {i: f"{name}: unknown label" for i in values.index[unknown] if i not in reasons}
        return encoded

    def _schema_checked(self, chunk: pd.DataFrame, reasons: dict[Any, str]) -> pd.DataFrame | None:
        """The rows that pass the contract's pandera schema, the others noted in `reasons`; None when the chunk
        fails as a whole (a column missing or not in the contract, or a check that names no rows)."""
        # Imported here: `to_arrow` below is all the version stage needs, and pandera takes a quarter of a
        # second to import in each stage process that does not check rows.
        import pandera.errors

        good = chunk
        # Rows that fail coercion make the column's other checks error out as a whole, so re-check what is left
        # until only clean rows remain; two rounds settle it in practice.
        for _ in range(4):
            try:
                return self.contract.pandera_schema().validate(good, lazy=True)
            except pandera.errors.SchemaErrors as exc:
                cases = exc.failure_cases
            if not self._note_cases(cases, reasons):
                return None
            failing = cases[cases["index"].notna()]["index"].unique()
            good = good.drop(index=[i for i in failing if i in good.index])
        raise RuntimeError(f"{self.source}: validation did not settle after removing failing rows")

    def _note_cases(self, cases: pd.DataFrame, reasons: dict[Any, str]) -> bool:
        """Note pandera's failure cases; False when they fail the chunk as a whole rather than some rows."""
        structural = cases[cases["check"].isin(STRUCTURAL)]
        for kind, group in structural.groupby("check"):
            what = "missing column" if kind == "column_in_dataframe" else "column not in contract"
            for name in group["failure_case"]:
                self._note(str(name), what, [str(name)], [])
        if len(structural):
            return False
        row_cases = cases[cases["index"].notna()]
        if row_cases.empty:
            for (column, check), group in cases.groupby(["column", "check"], dropna=False):
                self._note(str(column), str(check), group["failure_case"].tolist()[:1] or [None], [])
            return False
        for (column, check), group in row_cases.groupby(["column", "check"], sort=True):
            self._note(str(column), str(check), group["failure_case"].tolist(), group["index"].tolist())
            for idx in group["index"]:
                reasons.setdefault(idx, f"{column}: {check}")
        return True

    def _first_sightings(self, good: pd.DataFrame, reasons: dict[Any, str]) -> pd.DataFrame:
        """`good` without the rows whose id was seen before, in this batch or another; remembers the rest."""
        if self.contract.id_column is None:
            return good  # no unique id: a repeated record is allowed
        ids = good[self.contract.id_column]
        # A set lookup per id: pandas' isin would rebuild a hash table of every id seen so far for each chunk.
        seen = self.seen
        repeated = pd.Series(np.fromiter((i in seen for i in ids), bool, len(ids)), index=good.index)
        if repeated.any():
            dup = good.index[repeated]
            self._note(
                self.contract.id_column, "id seen before (in this or another batch)", ids[repeated].tolist(), list(dup)
            )
            for idx in dup:
                reasons.setdefault(idx, f"{self.contract.id_column}: id seen before")
            good = good[~repeated]
        self.seen.update(good[self.contract.id_column])
        return good

    def finish(self, max_invalid_share: float | None = 0.0, *, delivery: bool = True) -> ValidationReport:
        """The report. `max_invalid_share=None` means no quarantine tolerance applies at all (a consumer such as
        training, which refuses any failing row): the failing rows are reported without the tolerance line.

        `delivery=False` screens a slice of a delivery, such as one batch's holdout file: its rows must meet
        the contract, but the batch rules (size, null shares) judged the whole delivery when it landed, and a
        slice of a valid batch may well be smaller than `batch.min_rows`."""
        problems = list(self._problems.values())
        rules = self.contract.batch
        valid = self.rows - self.invalid
        if not self.structural and delivery:
            if valid < rules.min_rows:
                problems.append(
                    _batch_problem(f"at least {rules.min_rows} valid rows (contract batch.min_rows)", valid)
                )
            if rules.max_rows is not None and self.rows > rules.max_rows:
                problems.append(_batch_problem(f"at most {rules.max_rows} rows (contract batch.max_rows)", self.rows))
            for name, count in self.nulls.items():
                ceiling = self.contract.max_null_share(name)
                share = count / self.rows if self.rows else 0.0
                if ceiling is not None and count and share > ceiling:
                    problems.append(
                        {
                            "column": name,
                            "check": f"null share at most {ceiling} (contract max_null_share)",
                            "failures": count,
                            "examples": [round(share, 4)],
                            "rows": [],
                        }
                    )
        quarantined = 0
        if not self.structural and self.invalid:
            share = self.invalid / self.rows
            if max_invalid_share is not None and share <= max_invalid_share:
                # Within tolerance: the failing rows go to quarantine and the batch goes on without them.
                quarantined = self.invalid
                problems = [p for p in problems if p["column"] == BATCH or "null share" in str(p["check"])]
            elif max_invalid_share is not None:
                problems.append(
                    _batch_problem(
                        f"invalid rows at most {max_invalid_share:.2%} of the batch (validate.max_invalid_share)",
                        f"{share:.2%}",
                    )
                )
        return ValidationReport(self.source, self.rows, problems, quarantined)


def _batch_problem(check: str, value: Any) -> dict[str, Any]:
    return {"column": BATCH, "check": check, "failures": 1, "examples": [value], "rows": []}


def check_frame(
    frame: pd.DataFrame, contract: Contract, source: str, *, max_invalid_share: float = 0.0
) -> ValidationReport:
    """Check a frame against the contract without storing anything."""
    screen = Screen(contract, source)
    screen.screen(frame)
    return screen.finish(max_invalid_share)


def check_chunks(
    chunks: Iterator[pd.DataFrame], contract: Contract, source: str, *, max_invalid_share: float = 0.0
) -> ValidationReport:
    """Check a stream of chunks (a file of any size) without storing anything."""
    screen = Screen(contract, source)
    for chunk in chunks:
        screen.screen(chunk)
    return screen.finish(max_invalid_share)


def to_arrow(frame: pd.DataFrame, contract: Contract) -> pa.Table:
    return pa.Table.from_pandas(frame, schema=contract.arrow_schema(), preserve_index=False)

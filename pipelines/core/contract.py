"""The data contract (data engineer → everyone): `contract.yaml`, loaded and checked.

Validation (the pandera schema and batch rules), the model's feature lists, the API request model, the
prediction log's columns and the drift monitor's column mapping are all derived from one `Contract`;
nothing else in Relay re-declares a column. Bringing your own data means editing `contract.yaml`, not code.
"""

from __future__ import annotations

import math
import numbers
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.core.yaml_file import load_model

if TYPE_CHECKING:
    import pandera.pandas as pa
    import pyarrow as pa_arrow

Kind = Literal["id", "batch", "timestamp", "numeric", "categorical", "ordinal", "target", "ignore"]
FEATURE_KINDS = ("numeric", "categorical", "ordinal")
TEXT_KINDS = ("id", "batch", "categorical", "ordinal", "ignore")
# The prediction log's own columns (pipelines/core/prediction_log.py builds its table from this): a feature
# of the same name would collide with one of them, so the contract refuses it when it loads.
PREDICTION_LOG_COLUMNS = ("id", "request_id", "ts", "model_version", "prediction", "flagged", "latency_ms", "protocol")
Label = str | int | bool
Task = Literal["binary", "multiclass", "regression"]


def label_key(value: Any) -> str | None:
    """A label as text to compare by, so that the contract's `yes`, a CSV's "Yes" and Parquet's True or 1.0
    meet where they mean the same; None for a missing value. A fraction such as 0.5 keeps its digits, so it
    matches no label and is refused rather than truncated."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
        return "true" if value else "false"
    if isinstance(value, numbers.Real):  # ints and floats, Python's or numpy's
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value).strip().casefold()


class ContractError(ValueError):
    """`contract.yaml` is missing, unreadable or declares something Relay cannot enforce."""


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = ""
    kind: Kind
    description: str = Field(min_length=1)
    example: Any = None
    minimum: float | None = Field(None, alias="min")
    maximum: float | None = Field(None, alias="max")
    allowed: tuple[str, ...] | None = Field(None, min_length=1)
    pattern: str | None = None
    nullable: bool = False
    max_null_share: float | None = Field(None, ge=0, le=1)
    # A binary target's two labels, as the data writes them (yes/no, Y/N, true/false, 1/0, or any two values);
    # the model predicts the probability of `positive`.
    positive: Label | None = None
    negative: Label | None = None
    # What the target asks of the model: binary (two labels), multiclass (the classes in `allowed`) or
    # regression (a number, within `min`/`max` when given).
    task: Task | None = None
    # A time column whose source writes numbers (epoch seconds, say) names their unit; without it they are refused.
    unit: Literal["s", "ms", "us", "ns"] | None = None

    @field_validator("allowed", mode="before")
    @classmethod
    def _whole_numbers_as_text(cls, value: Any) -> Any:
        # Levels and classes coded 0, 1, 2 are written as YAML numbers; they are the texts "0", "1", "2".
        if isinstance(value, list | tuple):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @property
    def is_feature(self) -> bool:
        return self.kind in FEATURE_KINDS

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if self.kind == "ordinal" and not self.allowed:
            raise ValueError("an ordinal column needs `allowed`, smallest first")
        if self.kind == "categorical" and not (self.allowed or self.pattern):
            raise ValueError("a categorical column needs `allowed` (closed set) or `pattern` (open set)")
        if (self.minimum is not None or self.maximum is not None) and not self.is_number:
            raise ValueError("`min`/`max` apply to numeric columns and regression targets only")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"`min` ({self.minimum}) is above `max` ({self.maximum})")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"`pattern` is not a regular expression: {exc}") from None
        if self.kind in ("id", "batch", "target") and self.nullable:
            raise ValueError(f"a {self.kind} column cannot be nullable")
        if self.max_null_share is not None and not self.nullable:
            raise ValueError("`max_null_share` needs `nullable: true`")
        if self.example is None and self.kind not in ("target", "ignore"):
            raise ValueError("give an `example` value (the API documentation shows it)")
        problem = self.problem_with(self.example) if self.example is not None else None
        if problem:
            raise ValueError(f"`example` {self.example!r} {problem}")
        return self

    @model_validator(mode="after")
    def _labels(self) -> Column:
        for key, kind in (("unit", "timestamp"), ("task", "target")):
            if getattr(self, key) is not None and self.kind != kind:
                raise ValueError(f"`{key}` belongs to a {kind} column; this one is {self.kind}")
        labels = self.positive is not None or self.negative is not None
        if labels and (self.kind, self.task_kind) != ("target", "binary"):
            raise ValueError("`positive`/`negative` name a binary target's two labels; this column is none")
        if self.kind != "target":
            return self
        if (self.task_kind == "multiclass") != (self.allowed is not None):
            raise ValueError("a multiclass target lists its classes in `allowed`; no other target has `allowed`")
        if self.allowed is not None and len({label_key(c) for c in self.allowed}) < 3:
            raise ValueError("a multiclass target needs at least three distinct classes (two: a binary target)")
        if label_key(self.positive_label) == label_key(self.negative_label):
            raise ValueError(f"`positive` and `negative` are the same label ({self.positive_label!r})")
        return self

    @property
    def task_kind(self) -> Task:
        return self.task or "binary"

    @property
    def is_number(self) -> bool:
        """Values are numbers: a numeric feature, or a regression target."""
        return self.kind == "numeric" or (self.kind == "target" and self.task_kind == "regression")

    @property
    def integer_codes(self) -> bool:
        """Levels written as whole numbers ("1".."4"), which other files and clients send as numbers."""
        return bool(self.allowed) and all(v.lstrip("-").isdigit() and str(int(v)) == v for v in self.allowed or ())

    @property
    def positive_label(self) -> Label:
        return 1 if self.positive is None else self.positive

    @property
    def negative_label(self) -> Label:
        return 0 if self.negative is None else self.negative

    @property
    def classes(self) -> tuple[Label, ...]:
        """A classifier's labels as the data writes them, in code order (binary: negative, positive)."""
        if self.task_kind == "regression":
            return ()
        return tuple(self.allowed) if self.allowed is not None else (self.negative_label, self.positive_label)

    def codes(self) -> dict[str | None, int]:
        """Each label's key (`label_key`) and the code the model sees. A binary target without labels named reads
        1/0 and true/false alike."""
        if self.task_kind == "binary" and self.positive is None and self.negative is None:
            return {"0": 0, "false": 0, "1": 1, "true": 1}
        return {label_key(label): code for code, label in enumerate(self.classes)}

    def problem_with(self, value: Any) -> str | None:
        """Why `value` breaks this column's rules, or None (used to check the contract's own examples)."""
        problems: list[str] = []
        if self.kind == "target" and self.task_kind != "regression":
            if label_key(value) not in self.codes():
                problems.append(f"is not one of the labels {list(self.classes)}")
        elif self.is_number:
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append("is not a number")
            elif self.minimum is not None and value < self.minimum:
                problems.append(f"is below min {self.minimum}")
            elif self.maximum is not None and value > self.maximum:
                problems.append(f"is above max {self.maximum}")
        elif self.kind not in ("timestamp", "ignore"):
            if self.allowed is not None and value not in self.allowed:
                problems.append(f"is not one of {list(self.allowed)}")
            if self.pattern is not None and not re.search(self.pattern, str(value)):
                problems.append(f"does not match pattern {self.pattern}")
        return "; ".join(problems) or None


class BatchRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int = Field(1, ge=1)
    max_rows: int | None = Field(None, ge=1)
    max_null_share: float = Field(0.2, ge=0, le=1)


class Contract(BaseModel):
    """The active data contract: columns by kind, batch-level rules, and the schemas derived from them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    # The unique id of a record; leave it out when no column is unique (a panel id that repeats, say): the
    # split then hashes each record's values instead, and repeated rows are allowed.
    id_column: str | None = None
    batch_column: str
    target: str
    batch: BatchRules = BatchRules()
    columns: dict[str, Column] = Field(min_length=2)

    @field_validator("columns", mode="before")
    @classmethod
    def _name_columns(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {**v, "name": k} if isinstance(v, dict) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _roles_match_kinds(self) -> Contract:
        for key, kind in (("id_column", "id"), ("batch_column", "batch"), ("target", "target")):
            name = getattr(self, key)
            if name is None:
                stray = [n for n, c in self.columns.items() if c.kind == "id"]
                if stray:
                    raise ValueError(f"column {stray[0]!r} has kind 'id' but id_column is not set; set it")
                continue
            if name not in self.columns:
                raise ValueError(f"{key} {name!r} is not one of the columns")
            if self.columns[name].kind != kind:
                raise ValueError(f"{key} {name!r} must have kind {kind!r}, not {self.columns[name].kind!r}")
        for kind in ("id", "batch", "target"):
            many = [n for n, c in self.columns.items() if c.kind == kind]
            if len(many) > 1:
                raise ValueError(f"only one column may have kind {kind!r}; found {', '.join(many)}")
        if not self.feature_columns():
            raise ValueError("no feature columns (numeric, categorical or ordinal): the model would have no inputs")
        clash = [n for n in self.feature_columns() if n in PREDICTION_LOG_COLUMNS]
        if clash:
            raise ValueError(
                f"feature {clash[0]!r} has the name of one of the prediction log's own columns "
                f"({', '.join(PREDICTION_LOG_COLUMNS)}); rename it, or give it kind 'ignore' if the model "
                "should not see it"
            )
        return self

    def column(self, name: str) -> Column:
        return self.columns[name]

    @property
    def task(self) -> Task:
        return self.columns[self.target].task_kind

    @property
    def labels(self) -> tuple[Label, ...]:
        """The target's classes as the data writes them, in the order of their codes 0, 1, ... (binary: negative,
        positive); empty for regression."""
        return self.columns[self.target].classes

    def feature_columns(self) -> list[str]:
        return [n for n, c in self.columns.items() if c.is_feature]

    def numeric_features(self) -> list[str]:
        return [n for n, c in self.columns.items() if c.kind == "numeric"]

    def ordinal_features(self) -> list[str]:
        return [n for n, c in self.columns.items() if c.kind == "ordinal"]

    def categorical_features(self) -> list[str]:
        """Nominal features, closed sets and open ones (such as a brand that new values arrive in)."""
        return [n for n, c in self.columns.items() if c.kind == "categorical"]

    def max_null_share(self, name: str) -> float | None:
        """The ceiling on a column's share of missing values in one batch (None: no nulls allowed)."""
        col = self.columns[name]
        if not col.nullable:
            return None
        return self.batch.max_null_share if col.max_null_share is None else col.max_null_share

    def pandera_schema(self, columns: list[str] | None = None) -> pa.DataFrameSchema:
        """The pandera schema of one batch (or of `columns` only); strict (unknown columns are errors) and
        coercing (CSV text is fine)."""
        # pandera and pandas load only here: settings (and so every command) read the contract at start-up.
        import pandera.pandas as pa

        names = columns if columns is not None else list(self.columns)
        cols = {n: _pandera_column(self.columns[n], n == self.id_column) for n in names}
        return pa.DataFrameSchema(cols, strict=True, coerce=True, name=self.name)

    def example_record(self) -> dict[str, Any]:
        return {n: c.example for n, c in self.columns.items() if c.is_feature}

    def arrow_schema(self) -> pa_arrow.Schema:
        """Column types on disk. Explicit, so a chunk whose optional column is all null still fits the file."""
        import pyarrow as pa_arrow

        types = {
            "float64": pa_arrow.float64(),
            "int64": pa_arrow.int64(),
            "datetime64[ns]": pa_arrow.timestamp("ns"),
            "str": pa_arrow.string(),
        }
        return pa_arrow.schema([(n, types[_dtype(c)]) for n, c in self.columns.items()])


def _dtype(c: Column) -> str:
    if c.is_number:
        return "float64"
    if c.kind == "target":
        return "int64"  # the labels as their codes 0, 1, ..., as ingest encodes them
    if c.kind == "timestamp":
        return "datetime64[ns]"
    return "str"


def _pandera_column(c: Column, unique: bool) -> pa.Column:
    import pandera.pandas as pa

    checks: list[pa.Check] = []
    if c.minimum is not None:
        checks.append(pa.Check.ge(c.minimum))
    if c.maximum is not None:
        checks.append(pa.Check.le(c.maximum))
    if c.kind == "target" and c.task_kind != "regression":
        checks.append(pa.Check.isin(list(range(len(c.classes)))))  # encoded at the door (contract_checks.Screen)
    elif c.allowed is not None:
        checks.append(pa.Check.isin(list(c.allowed)))
    if c.pattern is not None:
        checks.append(pa.Check.str_matches(c.pattern))
    dtype: Any = str if _dtype(c) == "str" else _dtype(c)
    return pa.Column(
        dtype,
        checks=checks,
        nullable=c.nullable,
        unique=unique,
        # Keep the first of a duplicated id, so quarantine removes only the later copies.
        report_duplicates="exclude_first",
        coerce=True,
        description=c.description,
    )


def load(path: Path) -> Contract:
    """Read and check `contract.yaml`; every problem is reported with the key it is under."""
    return load_model(path, Contract, ContractError, "data contract")

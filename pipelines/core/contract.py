"""The data contract (data engineer → everyone): `contract.yaml`, loaded and checked.

Validation (the pandera schema and batch rules), the model's feature lists, the API request model, the
prediction log's columns and the drift monitor's column mapping are all derived from one `Contract`;
nothing else in Relay re-declares a column. Bringing your own data means editing `contract.yaml`, not code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.core.yaml_file import load_model

if TYPE_CHECKING:
    import pandera.pandas as pa
    import pyarrow as pa_arrow

Kind = Literal["id", "batch", "timestamp", "numeric", "categorical", "ordinal", "target"]
FEATURE_KINDS = ("numeric", "categorical", "ordinal")


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

    @property
    def is_feature(self) -> bool:
        return self.kind in FEATURE_KINDS

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if self.kind == "ordinal" and not self.allowed:
            raise ValueError("an ordinal column needs `allowed`, smallest first")
        if self.kind == "categorical" and not (self.allowed or self.pattern):
            raise ValueError("a categorical column needs `allowed` (closed set) or `pattern` (open set)")
        if (self.minimum is not None or self.maximum is not None) and self.kind != "numeric":
            raise ValueError("`min`/`max` apply to numeric columns only")
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
        if self.example is None and self.kind != "target":
            raise ValueError("give an `example` value (the API documentation shows it)")
        problem = self.problem_with(self.example) if self.example is not None else None
        if problem:
            raise ValueError(f"`example` {self.example!r} {problem}")
        return self

    def problem_with(self, value: Any) -> str | None:
        """Why `value` breaks this column's rules, or None (used to check the contract's own examples)."""
        problems: list[str] = []
        if self.kind == "numeric":
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append("is not a number")
            elif self.minimum is not None and value < self.minimum:
                problems.append(f"is below min {self.minimum}")
            elif self.maximum is not None and value > self.maximum:
                problems.append(f"is above max {self.maximum}")
        elif self.kind == "target":
            if value not in (0, 1):
                problems.append("is not 0 or 1")
        elif self.kind != "timestamp":
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
    id_column: str
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
        return self

    def column(self, name: str) -> Column:
        return self.columns[name]

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

    def pandera_schema(self, *, with_target: bool = True) -> pa.DataFrameSchema:
        """The pandera schema of one batch; strict (unknown columns are errors) and coercing (CSV text is fine)."""
        # pandera and pandas load only here: settings (and so every command) read the contract at start-up.
        import pandera.pandas as pa

        cols = {n: _pandera_column(c, n == self.id_column) for n, c in self.columns.items()}
        if not with_target:
            cols.pop(self.target)
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
    if c.kind == "numeric":
        return "float64"
    if c.kind == "target":
        return "int64"
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
    if c.kind == "target":
        checks.append(pa.Check.isin([0, 1]))
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

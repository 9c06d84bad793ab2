"""The data contract (data engineer → everyone): one declaration of the order records.

Validation (pandera schema), the model's feature lists, the API request model and the drift monitor's
column mapping are all derived from `COLUMNS` below; nothing else in Relay re-declares a column.
To bring your own data, edit this table (and `ingest` settings), not the stage code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandera.pandas as pa

Kind = Literal["id", "timestamp", "numeric", "categorical", "ordinal", "text_category", "target"]

SIZES: tuple[str, ...] = ("XS", "S", "M", "L", "XL", "XXL")
CATEGORIES: tuple[str, ...] = ("tops", "dresses", "trousers", "outerwear", "knitwear")
CHANNELS: tuple[str, ...] = ("web", "app", "marketplace")


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    description: str
    example: Any
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    nullable: bool = False
    unique: bool = False
    extra_checks: tuple[pa.Check, ...] = field(default=())

    @property
    def is_feature(self) -> bool:
        return self.kind in ("numeric", "categorical", "ordinal", "text_category")


COLUMNS: tuple[Column, ...] = (
    Column("order_id", "id", "Unique order identifier.", "0005-000042", pattern=r"^[A-Za-z0-9_-]{1,64}$", unique=True),
    Column("order_ts", "timestamp", "When the order was placed (UTC).", "2026-02-02T10:15:00"),
    Column(
        "batch_id", "id", "The delivery batch the order arrived in.", "batch-0005", pattern=r"^[A-Za-z0-9_.-]{1,64}$"
    ),
    Column("customer_height_cm", "numeric", "Customer's height in centimetres.", 171.0, 120, 220),
    Column("customer_weight_kg", "numeric", "Customer's weight in kilograms.", 68.0, 30, 250),
    Column("usual_size", "ordinal", "Size the customer usually buys.", "M", allowed=SIZES),
    Column("category", "categorical", "Product category.", "dresses", allowed=CATEGORIES),
    Column(
        "brand",
        "text_category",
        "Brand of the product; new brands appear over time.",
        "northwind",
        pattern=r"^[a-z][a-z0-9_-]{0,39}$",
    ),
    Column("ordered_size", "ordinal", "Size ordered.", "M", allowed=SIZES),
    Column("price", "numeric", "Item price after discount, in euros.", 49.9, 0.01, 5000),
    Column("discount", "numeric", "Discount share applied to the list price.", 0.1, 0.0, 0.95),
    Column("channel", "categorical", "Where the order was placed.", "web", allowed=CHANNELS),
    Column("returned", "target", "1 if the item was returned for fit, else 0.", 0, 0, 1),
)

TARGET = "returned"
_BY_NAME = {c.name: c for c in COLUMNS}


def column(name: str) -> Column:
    return _BY_NAME[name]


def feature_columns() -> list[str]:
    return [c.name for c in COLUMNS if c.is_feature]


def numeric_features() -> list[str]:
    return [c.name for c in COLUMNS if c.kind == "numeric"]


def ordinal_features() -> list[str]:
    return [c.name for c in COLUMNS if c.kind == "ordinal"]


def categorical_features() -> list[str]:
    """Nominal features, including open-ended ones such as brand."""
    return [c.name for c in COLUMNS if c.kind in ("categorical", "text_category")]


def _pandera_column(c: Column) -> pa.Column:
    checks: list[pa.Check] = []
    dtype: Any
    if c.kind in ("numeric",):
        dtype = float
    elif c.kind == "target":
        dtype = "int64"
    elif c.kind == "timestamp":
        dtype = "datetime64[ns]"
    else:
        dtype = str
    if c.minimum is not None:
        checks.append(pa.Check.ge(c.minimum))
    if c.maximum is not None:
        checks.append(pa.Check.le(c.maximum))
    if c.allowed is not None:
        checks.append(pa.Check.isin(list(c.allowed)))
    if c.pattern is not None:
        checks.append(pa.Check.str_matches(c.pattern))
    checks.extend(c.extra_checks)
    return pa.Column(dtype, checks=checks, nullable=c.nullable, unique=c.unique, coerce=True, description=c.description)


def schema(*, with_target: bool = True) -> pa.DataFrameSchema:
    """The pandera schema of an order batch; strict, so unknown columns are errors."""
    cols = {c.name: _pandera_column(c) for c in COLUMNS if with_target or c.kind != "target"}
    return pa.DataFrameSchema(cols, strict=True, coerce=True, name="orders")


def feature_schema() -> pa.DataFrameSchema:
    """Schema of the model inputs only (what the API accepts and the monitor compares)."""
    cols = {c.name: _pandera_column(c) for c in COLUMNS if c.is_feature}
    return pa.DataFrameSchema(cols, strict="filter", coerce=True, name="features")


def example_record() -> dict[str, Any]:
    return {c.name: c.example for c in COLUMNS if c.is_feature}

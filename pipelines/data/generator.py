"""Synthetic fashion-returns orders, deterministic for (seed, batch), with drift scenarios of known truth.

The shop story: customers pick a size; whether the item comes back depends mostly on fit, i.e. on the
ordered size against the customer's true body size, corrected by how the brand and category run. The label
is learnable but noisy. Seasons shape the catalogue: winter sells outerwear and knitwear, summer dresses, and
sale seasons (January–February, July–August, Black Friday) bring deeper discounts. Scenarios switch on drift
whose ground truth is known, so tests can demand that the monitor fires on exactly the drifted features:

- ``new_brand``     covariate + concept: a brand that runs a full size small takes 35% of orders
                    (drifts ``brand``; returns rise for it)
- ``promotion``     covariate: a promotion with deep discounts and lower prices (drifts ``discount``, ``price``)
- ``policy_change`` concept only: free returns raise the return rate everywhere (drifts the label)
- no scenario       no drift: a later week from the same shop

Batches are generated in fixed-size chunks, each from its own random stream, so a batch of any size is the
same whether it is built in memory (`generate_batch`) or streamed to disk chunk by chunk (`generate_chunks`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import get_args

import numpy as np
import pandas as pd

from pipelines.core.params import Scenario

SCENARIOS: tuple[str, ...] = get_args(Scenario)
CHUNK_ROWS = 250_000

SIZES = ("XS", "S", "M", "L", "XL", "XXL")
CATEGORIES = ("tops", "dresses", "trousers", "outerwear", "knitwear")
CHANNELS = ("web", "app", "marketplace")
BRANDS = ("northwind", "alder", "kestrel", "maris", "orla")
_BRAND_P = (0.3, 0.25, 0.2, 0.15, 0.1)
# Positive: the brand runs large (items fit bigger than labelled); negative: runs small.
BRAND_FIT = {"northwind": 0.0, "alder": 0.5, "kestrel": -0.5, "maris": 0.0, "orla": 0.3, "sundew": -1.0}
NEW_BRAND = "sundew"
# Category mix by season (rows: winter, spring, summer, autumn; columns: CATEGORIES).
_CATEGORY_P = np.array(
    [
        [0.25, 0.10, 0.20, 0.25, 0.20],
        [0.30, 0.20, 0.25, 0.15, 0.10],
        [0.35, 0.35, 0.20, 0.05, 0.05],
        [0.25, 0.15, 0.20, 0.20, 0.20],
    ]
)
_CATEGORY_FIT = np.array([0.0, -0.15, 0.1, 0.2, 0.0])
_CATEGORY_PRICE = np.array([29.0, 59.0, 49.0, 119.0, 69.0])
_CHANNEL_P = (0.5, 0.35, 0.15)
_CHANNEL_EFFECT = np.array([0.0, 0.1, 0.35])
_WEIGHT_MISSING = 0.03  # customers who left weight out of their profile
FIRST_WEEK = datetime(2026, 1, 5)


def batch_id(batch: int) -> str:
    return f"batch-{batch:04d}"


def _season(week_start: datetime) -> int:
    return {12: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2}.get(week_start.month, 3)


def _sale_week(week_start: datetime) -> bool:
    return week_start.month in (1, 2, 7, 8) or (week_start.month == 11 and week_start.day >= 20)


# Week numbers as batch ids have four digits (batch-0001); 9999 weeks stay within the dates pandas can hold.
MAX_BATCH = 9999


def _check(batch: int, rows: int, scenarios: Sequence[str]) -> None:
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch numbers run from 1 to {MAX_BATCH} (weeks from {FIRST_WEEK:%Y-%m-%d}), got {batch}")
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown drift scenario(s) {sorted(unknown)}; known: {', '.join(SCENARIOS)}")


def generate_chunks(
    batch: int, rows: int, seed: int = 42, scenarios: Sequence[str] = (), *, with_label: bool = True
) -> Iterator[pd.DataFrame]:
    """One weekly batch of orders as frames of at most CHUNK_ROWS rows, for writing batches of any size."""
    _check(batch, rows, scenarios)
    n_chunks = -(-rows // CHUNK_ROWS)
    for k in range(n_chunks):
        start = k * CHUNK_ROWS
        yield _chunk(batch, k, n_chunks, start, min(CHUNK_ROWS, rows - start), seed, scenarios, with_label)


def generate_batch(
    batch: int, rows: int, seed: int = 42, scenarios: Sequence[str] = (), *, with_label: bool = True
) -> pd.DataFrame:
    """One weekly batch of orders in memory. Same (batch, rows, seed, scenarios) → same frame, byte for byte."""
    chunks = list(generate_chunks(batch, rows, seed, scenarios, with_label=with_label))
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def _chunk(  # noqa: PLR0913, PLR0917 (internal: the chunk's coordinates, passed through from generate_chunks)
    batch: int,
    k: int,
    n_chunks: int,
    first: int,
    rows: int,
    seed: int,
    scenarios: Sequence[str],
    with_label: bool,
) -> pd.DataFrame:
    rng = np.random.default_rng([seed, batch, k])
    week_start = FIRST_WEEK + timedelta(weeks=batch - 1)

    # Two overlapping body-size populations; height and BMI drive the size the customer usually buys.
    tall = rng.random(rows) < 0.45
    height = np.where(tall, rng.normal(178, 7, rows), rng.normal(165, 6.5, rows)).clip(140, 205)
    bmi = rng.normal(24, 3.5, rows).clip(16, 42)
    weight = (bmi * (height / 100) ** 2).clip(35, 190)
    size_score = 2.2 + 0.07 * (height - 170) + 0.28 * (bmi - 24) + rng.normal(0, 0.3, rows)
    usual = np.clip(np.rint(size_score), 0, len(SIZES) - 1).astype(np.int64)

    category = rng.choice(len(CATEGORIES), rows, p=_CATEGORY_P[_season(week_start)])
    brands = np.array((*BRANDS, NEW_BRAND))
    brand_idx = rng.choice(len(BRANDS), rows, p=_BRAND_P)
    if "new_brand" in scenarios:
        brand_idx = np.where(rng.random(rows) < 0.35, len(BRANDS), brand_idx)
    brand_fit = np.array([BRAND_FIT[b] for b in brands])[brand_idx]

    # Customers who know a brand sometimes compensate; nobody knows the new brand yet.
    known = brand_idx < len(BRANDS)
    adjust = rng.choice([-1, 0, 1], rows, p=[0.12, 0.76, 0.12])
    compensate = known & (rng.random(rows) < 0.35)
    adjust = np.where(compensate, -np.sign(brand_fit).astype(np.int64), adjust)
    ordered = np.clip(usual + adjust, 0, len(SIZES) - 1)

    base_price = _CATEGORY_PRICE[category] * rng.lognormal(0, 0.3, rows)
    depth = 0.6 if _sale_week(week_start) else 0.4
    discount: np.ndarray = np.round(rng.beta(1.2, 8, rows) * depth, 2)
    if "promotion" in scenarios:
        discount = np.round(np.clip(0.25 + rng.beta(2, 5, rows) * 0.5, 0, 0.9), 2)
        base_price = base_price * 0.85
    price = np.round(np.clip(base_price * (1 - discount), 1.0, 4000), 2)
    channel = rng.choice(len(CHANNELS), rows, p=_CHANNEL_P)

    # The truth: misfit (ordered vs true body size, corrected for brand and category) drives returns; height
    # and weight reveal the true size better than the rounded size customers report as usual.
    fit = (ordered - size_score) + brand_fit + _CATEGORY_FIT[category] + rng.normal(0, 0.2, rows)
    logit = -2.6 + 2.8 * fit**2 + 1.4 * discount + _CHANNEL_EFFECT[channel]
    if "policy_change" in scenarios:
        logit = logit + 0.9
    returned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    weight = np.where(rng.random(rows) < _WEIGHT_MISSING, np.nan, np.round(weight, 1))

    # Each chunk covers its own slice of the week, so order ids and times rise together.
    week = 7 * 24 * 3600
    lo, hi = week * k // n_chunks, week * (k + 1) // n_chunks
    seconds = np.sort(rng.integers(lo, hi, rows))
    ids = pd.Series(np.arange(first, first + rows)).astype(str).str.zfill(8)
    frame = pd.DataFrame(
        {
            "order_id": f"{batch:04d}-" + ids,
            # The contract's unit: pandas 3 would otherwise pick microseconds, pandas 2 nanoseconds.
            "order_ts": (pd.Timestamp(week_start) + pd.to_timedelta(seconds, unit="s")).astype("datetime64[ns]"),
            "batch_id": batch_id(batch),
            "customer_height_cm": np.round(height, 1),
            "customer_weight_kg": weight,
            "usual_size": np.array(SIZES, dtype=object)[usual],
            "category": np.array(CATEGORIES, dtype=object)[category],
            "brand": brands.astype(object)[brand_idx],
            "ordered_size": np.array(SIZES, dtype=object)[ordered],
            "price": price,
            "discount": discount,
            "channel": np.array(CHANNELS, dtype=object)[channel],
        }
    )
    frame.index = pd.RangeIndex(first, first + rows)
    if with_label:
        frame["returned"] = returned
    return frame

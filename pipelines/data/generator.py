"""Synthetic fashion-returns orders, deterministic for (seed, batch), with drift scenarios of known truth.

The shop story: customers pick a size; whether the item comes back depends mostly on fit, i.e. on the
ordered size against the customer's usual size, corrected by how the brand and category run. The label is
learnable but noisy. Scenarios switch on drift whose ground truth is known, so tests can demand that the
monitor fires on exactly the drifted features:

- ``new_brand``   covariate + concept: a brand that runs a full size small takes 35% of orders
                  (drifts ``brand``; returns rise for it)
- ``promotion``   covariate: holiday promotion, deep discounts and lower prices (drifts ``discount``, ``price``)
- ``policy_change`` concept only: free returns raise the return rate everywhere (drifts the label)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import get_args

import numpy as np
import pandas as pd

from pipelines.contract import CATEGORIES, CHANNELS, SIZES
from pipelines.params import Scenario

SCENARIOS: tuple[str, ...] = get_args(Scenario)

BRANDS = ("northwind", "alder", "kestrel", "maris", "orla")
_BRAND_P = (0.3, 0.25, 0.2, 0.15, 0.1)
# Positive: the brand runs large (items fit bigger than labelled); negative: runs small.
BRAND_FIT = {"northwind": 0.0, "alder": 0.5, "kestrel": -0.5, "maris": 0.0, "orla": 0.3, "sundew": -1.0}
NEW_BRAND = "sundew"
_CATEGORY_P = (0.3, 0.2, 0.2, 0.15, 0.15)
_CATEGORY_FIT = np.array([0.0, -0.15, 0.1, 0.2, 0.0])
_CATEGORY_PRICE = np.array([29.0, 59.0, 49.0, 119.0, 69.0])
_CHANNEL_P = (0.5, 0.35, 0.15)
_CHANNEL_EFFECT = np.array([0.0, 0.1, 0.35])
FIRST_WEEK = datetime(2026, 1, 5)


def batch_id(batch: int) -> str:
    return f"batch-{batch:04d}"


def generate_batch(
    batch: int, rows: int, seed: int = 42, scenarios: Sequence[str] = (), *, with_label: bool = True
) -> pd.DataFrame:
    """One weekly batch of orders. Same (batch, rows, seed, scenarios) → same frame, byte for byte."""
    if batch < 1:
        raise ValueError(f"batch numbers start at 1, got {batch}")
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown drift scenario(s) {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    rng = np.random.default_rng([seed, batch])

    # Two overlapping body-size populations; BMI drives the size the customer usually buys.
    tall = rng.random(rows) < 0.45
    height = np.where(tall, rng.normal(178, 7, rows), rng.normal(165, 6.5, rows)).clip(140, 205)
    bmi = rng.normal(24, 3.5, rows).clip(16, 42)
    weight = (bmi * (height / 100) ** 2).clip(35, 190)
    size_score = 2.2 + 0.07 * (height - 170) + 0.28 * (bmi - 24) + rng.normal(0, 0.3, rows)
    usual = np.clip(np.rint(size_score), 0, len(SIZES) - 1).astype(int)

    category = rng.choice(len(CATEGORIES), rows, p=_CATEGORY_P)
    brands = np.array((*BRANDS, NEW_BRAND))
    brand_idx = rng.choice(len(BRANDS), rows, p=_BRAND_P)
    if "new_brand" in scenarios:
        brand_idx = np.where(rng.random(rows) < 0.35, len(BRANDS), brand_idx)
    brand = brands[brand_idx]
    brand_fit = np.array([BRAND_FIT[b] for b in brands])[brand_idx]

    # Customers who know a brand sometimes compensate; nobody knows the new brand yet.
    known = brand_idx < len(BRANDS)
    adjust = rng.choice([-1, 0, 1], rows, p=[0.12, 0.76, 0.12])
    compensate = known & (rng.random(rows) < 0.35)
    adjust = np.where(compensate, -np.sign(brand_fit).astype(int), adjust)
    ordered = np.clip(usual + adjust, 0, len(SIZES) - 1)

    base_price = _CATEGORY_PRICE[category] * rng.lognormal(0, 0.3, rows)
    discount: np.ndarray = np.round(rng.beta(1.2, 8, rows) * 0.6, 2)
    if "promotion" in scenarios:
        discount = np.round(np.clip(0.25 + rng.beta(2, 5, rows) * 0.5, 0, 0.9), 2)
        base_price = base_price * 0.85
    price = np.round(np.clip(base_price * (1 - discount), 1.0, 4000), 2)
    channel = rng.choice(len(CHANNELS), rows, p=_CHANNEL_P)

    # The truth: misfit (ordered vs usual, corrected for brand and category) drives returns.
    # Fit is judged against the customer's true body size (size_score), which height and weight reveal better
    # than the rounded size they report as usual.
    fit = (ordered - size_score) + brand_fit + _CATEGORY_FIT[category] + rng.normal(0, 0.2, rows)
    logit = -2.6 + 2.8 * fit**2 + 1.4 * discount + _CHANNEL_EFFECT[channel]
    if "policy_change" in scenarios:
        logit = logit + 0.9
    returned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")

    start = FIRST_WEEK + timedelta(weeks=batch - 1)
    seconds = np.sort(rng.integers(0, 7 * 24 * 3600, rows))
    frame = pd.DataFrame(
        {
            "order_id": [f"{batch:04d}-{i:06d}" for i in range(rows)],
            "order_ts": pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s"),
            "batch_id": batch_id(batch),
            "customer_height_cm": np.round(height, 1),
            "customer_weight_kg": np.round(weight, 1),
            "usual_size": np.array(SIZES)[usual],
            "category": np.array(CATEGORIES)[category],
            "brand": brand,
            "ordered_size": np.array(SIZES)[ordered],
            "price": price,
            "discount": discount,
            "channel": np.array(CHANNELS)[channel],
        }
    )
    if with_label:
        frame["returned"] = returned
    return frame

"""Monthly customer exports of a telecom operator, for trying Relay on data that is not the demo's.

Writes one semicolon-separated CSV per month into a landing folder, the way a billing system might drop its
exports. Shaped like real exports rather than like the demo's data, on purpose: the churn label is Yes/No, the
first column is an unnamed row index, the same customers appear every month (their id repeats, so no column
is unique), plan tiers are coded 1-3, and total charges are blank for customers in their first month.
Deterministic for a seed.

    python docs/examples/telco-churn/make_data.py --out landing/churn --months 3 --rows 4000
    python docs/examples/telco-churn/make_data.py --out landing/april --start 4 --months 1 --rows 4000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENTS = ("card", "bank-transfer", "invoice")
INTERNET = ("none", "dsl", "fiber")
REGIONS = ("north", "south", "east", "west", "capital")


def month(index: int, rows: int, seed: int) -> pd.DataFrame:
    """One month's export: the same customers every month, so a customer id repeats across exports."""
    rng = np.random.default_rng([seed, index])
    contract = rng.choice(len(CONTRACTS), rows, p=[0.55, 0.25, 0.2])
    tenure = np.clip(rng.gamma(2.0, 6 + 8 * contract, rows), 0, 120).round()
    internet = rng.choice(len(INTERNET), rows, p=[0.15, 0.4, 0.45])
    tier = np.clip(internet + rng.integers(-1, 1, rows), 0, 2)  # 0-2, exported as the codes 1-3
    charges = np.round(15 + 20 * internet + 15 * tier + rng.normal(0, 8, rows), 2).clip(5, 200)
    calls = rng.poisson(0.8 + 0.6 * (internet == 2), rows)
    logit = -1.2 - 0.05 * tenure + 1.3 * (contract == 0) + 0.6 * (internet == 2) + 0.35 * calls + 0.01 * charges
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    total = np.where(tenure > 0, np.round(charges * tenure, 2), np.nan)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(rows)],
            "snapshot_date": pd.Timestamp(2026, index, 1).strftime("%Y-%m-%d"),
            "tenure_months": tenure,
            "monthly_charges": charges,
            "total_charges": total,
            "support_calls": calls,
            "contract_type": np.array(CONTRACTS)[contract],
            "payment_method": np.array(PAYMENTS)[rng.choice(len(PAYMENTS), rows)],
            "internet_service": np.array(INTERNET)[internet],
            "plan_tier": tier + 1,
            "region": np.array(REGIONS)[rng.choice(len(REGIONS), rows)],
            "churned": np.where(churned, "Yes", "No"),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Landing folder to write the exports to.")
    parser.add_argument("--start", type=int, default=1, help="The first month (1-12).")
    parser.add_argument("--months", type=int, default=3, help="How many monthly exports.")
    parser.add_argument("--rows", type=int, default=4000, help="Customers per export.")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not 1 <= args.start <= args.start + args.months - 1 <= 12 or args.rows < 1:
        parser.error("--start and --months must stay within months 1-12, and --rows must be positive")
    args.out.mkdir(parents=True, exist_ok=True)
    for m in range(args.start, args.start + args.months):
        path = args.out / f"2026-{m:02d}.csv"
        month(m, args.rows, args.seed).to_csv(path, sep=";")  # with the index, as many exports do
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

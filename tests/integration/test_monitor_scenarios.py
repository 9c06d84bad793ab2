"""The monitor against drift whose truth is known: the generator's scenarios over several seeds, and the
false-alarm rate on weeks without drift.

Measured when written (2026-11-24): every scenario fired on exactly its features for seeds 1-3, and 0 of
20 clean windows (seeds 1-10, weeks 4 and 6) raised dataset drift or flagged a single feature. The bounds
below leave room for one unlucky window without letting a broken monitor through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.core.params import MonitorParams
from pipelines.data.generator import generate_batch
from pipelines.monitoring import drift
from tests.helpers import ORDERS

pytestmark = pytest.mark.integration
SEEDS = (1, 2, 3)
CLEAN_SEEDS = range(1, 11)
CLEAN_WEEKS = (4, 6)
MAX_FALSE_DATASET_ALARMS = 1  # of 20 clean windows: 5%
MAX_FALSE_FEATURE_FLAGS = 2  # of 20 windows x 9 features


def frame(batch: int, rows: int, seed: int, scenarios: tuple[str, ...] = ()) -> pd.DataFrame:
    f = generate_batch(batch, rows, seed=seed, scenarios=scenarios)
    return f[ORDERS.feature_columns()].assign(prediction=0.2 + 0.1 * (f["returned"] == 1))


def reference(seed: int) -> pd.DataFrame:
    return pd.concat([frame(b, 1500, seed) for b in (1, 2, 3)], ignore_index=True)


def judge(window: pd.DataFrame, ref: pd.DataFrame, out: Path) -> dict[str, Any]:
    params = MonitorParams(drift_share=0.25, min_rows=200)
    inputs = drift.DriftInputs(
        window=window, reference=ref, contract=ORDERS, params=params, reference_version="ref", model_version="1"
    )
    return drift.run(inputs, out)


# (scenarios, the features that must drift, dataset drift expected)
TRUTH = [
    (("new_brand",), ["brand"], False),
    (("promotion",), ["discount", "price"], False),
    # Concept drift only (free returns raise the return rate): the features do not move, so data drift must
    # stay quiet; only model quality on labelled data can see it.
    (("policy_change",), [], False),
    (("new_brand", "promotion"), ["brand", "discount", "price"], True),
]


@pytest.mark.parametrize(("scenarios", "features", "dataset"), TRUTH, ids=["+".join(t[0]) for t in TRUTH])
def test_each_scenario_fires_on_exactly_its_features(
    scenarios: tuple[str, ...], features: list[str], dataset: bool, tmp_path: Path
) -> None:
    for seed in SEEDS:
        d = judge(frame(5, 3000, seed, scenarios), reference(seed), tmp_path / str(seed))
        assert d.drifted_features == features, f"seed {seed}"
        assert d.drift is dataset, f"seed {seed}"
        if "new_brand" in scenarios:
            assert d.new_categories == {"brand": ["sundew"]}


def test_false_alarm_rate_on_weeks_without_drift(tmp_path: Path) -> None:
    dataset_alarms, feature_flags = 0, 0
    for seed in CLEAN_SEEDS:
        ref = reference(seed)
        for week in CLEAN_WEEKS:
            d = judge(frame(week, 3000, seed), ref, tmp_path / f"{seed}-{week}")
            dataset_alarms += bool(d.drift)
            feature_flags += len(d.drifted_features)
    assert dataset_alarms <= MAX_FALSE_DATASET_ALARMS
    assert feature_flags <= MAX_FALSE_FEATURE_FLAGS

"""The drift monitor with real Evidently, against generator batches whose drift is known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.core.handoffs import MonitorDecision
from pipelines.core.params import MonitorParams
from pipelines.data.generator import generate_batch
from pipelines.monitoring import drift
from tests.helpers import ORDERS

pytestmark = pytest.mark.integration


def frame(batch: int, rows: int, scenarios: tuple[str, ...] = ()) -> pd.DataFrame:
    f = generate_batch(batch, rows, seed=11, scenarios=scenarios)
    return f[ORDERS.feature_columns()].assign(prediction=0.2 + 0.1 * (f["returned"] == 1))


def judge(window: pd.DataFrame, reference: pd.DataFrame, out: Path, **options: Any) -> MonitorDecision:
    params = MonitorParams(drift_share=0.25, min_rows=200, **options)
    inputs = drift.DriftInputs(
        window=window, reference=reference, contract=ORDERS, params=params, reference_version="ref", model_version="1"
    )
    return drift.run(inputs, out)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.concat([frame(b, 1500) for b in (1, 2, 3)], ignore_index=True)


def test_drifted_week_fires_on_the_drifted_features(reference: pd.DataFrame, tmp_path: Path) -> None:
    d = judge(frame(5, 3000, ("new_brand", "promotion")), reference, tmp_path)
    assert d.drift is True
    assert {"brand", "discount", "price"} <= set(d.drifted_features)
    assert not {"customer_height_cm", "customer_weight_kg", "usual_size", "category"} & set(d.drifted_features)
    assert d.new_categories == {"brand": ["sundew"]}
    assert MonitorDecision.read(tmp_path / "decision.json") == d
    assert "<html" in (tmp_path / "report.html").read_text()[:2000].lower()


@pytest.mark.parametrize("batch", [6, 7])
def test_clean_week_stays_quiet(reference: pd.DataFrame, tmp_path: Path, batch: int) -> None:
    d = judge(frame(batch, 3000), reference, tmp_path)
    assert d.drift is False and d.drifted_features == []


def test_data_quality_names_missing_values_and_new_categories(reference: pd.DataFrame, tmp_path: Path) -> None:
    window = frame(6, 3000)
    window.loc[window.index[:900], "customer_height_cm"] = None  # 30% missing; the reference has none
    window["customer_weight_kg"] = window["customer_weight_kg"].astype("Float64")  # a nullable dtype
    window.loc[window.index[:5], "channel"] = "kiosk"
    d = judge(window, reference, tmp_path)
    quality = d.data_quality
    assert quality.ok is False
    assert quality.missing["customer_height_cm"].failed is True
    assert quality.missing["customer_height_cm"].share == 0.3
    assert not any(v.failed for c, v in quality.missing.items() if c != "customer_height_cm")
    assert any("customer_height_cm: 30.0% missing" in p for p in quality.problems)
    assert any("channel: new value(s) kiosk" in p for p in quality.problems)


def test_an_empty_column_is_reported_and_the_rest_still_judged(reference: pd.DataFrame, tmp_path: Path) -> None:
    window = frame(5, 3000, ("new_brand", "promotion")).assign(customer_weight_kg=None)
    d = judge(window, reference, tmp_path)
    assert d.data_quality.empty_columns == ["customer_weight_kg"]
    assert {"brand", "discount", "price"} <= set(d.drifted_features)


def test_clean_week_has_clean_data(reference: pd.DataFrame, tmp_path: Path) -> None:
    d = judge(frame(6, 3000), reference, tmp_path)
    assert d.data_quality.ok is True, d.data_quality.problems
    assert d.data_quality.out_of_range and not any(d.data_quality.out_of_range.values())


def test_a_large_window_is_judged_on_a_sample_and_finds_the_same_drift(reference: pd.DataFrame, tmp_path: Path) -> None:
    window = frame(5, 12_000, ("new_brand", "promotion"))
    d = judge(window, reference, tmp_path, sample_rows=4000)
    assert d.window.rows == 12_000 and d.window.judged_rows == 4000 and d.window.sampled
    assert d.drift is True and {"brand", "discount", "price"} <= set(d.drifted_features)

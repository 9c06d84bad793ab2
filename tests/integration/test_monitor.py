"""The drift monitor with real Evidently, against generator batches whose drift is known."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.generator import generate_batch
from pipelines.monitoring import drift
from tests.helpers import ORDERS

pytestmark = pytest.mark.integration


def frame(batch: int, rows: int, scenarios: tuple[str, ...] = ()) -> pd.DataFrame:
    f = generate_batch(batch, rows, seed=11, scenarios=scenarios)
    return f[ORDERS.feature_columns()].assign(prediction=0.2 + 0.1 * (f["returned"] == 1))


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.concat([frame(b, 1500) for b in (1, 2, 3)], ignore_index=True)


def test_drifted_week_fires_on_the_drifted_features(reference: pd.DataFrame, tmp_path: Path) -> None:
    d = drift.run(
        frame(5, 3000, ("new_brand", "promotion")),
        reference,
        tmp_path,
        ORDERS,
        drift_share=0.25,
        min_rows=200,
        reference_version="ref",
        model_version="1",
    )
    assert d["drift"] is True
    assert {"brand", "discount", "price"} <= set(d["drifted_features"])
    assert not {"customer_height_cm", "customer_weight_kg", "usual_size", "category"} & set(d["drifted_features"])
    assert d["new_categories"] == {"brand": ["sundew"]}
    assert json.loads((tmp_path / "decision.json").read_text())["drift"] is True
    assert "<html" in (tmp_path / "report.html").read_text()[:2000].lower()


@pytest.mark.parametrize("batch", [6, 7])
def test_clean_week_stays_quiet(reference: pd.DataFrame, tmp_path: Path, batch: int) -> None:
    d = drift.run(
        frame(batch, 3000),
        reference,
        tmp_path,
        ORDERS,
        drift_share=0.25,
        min_rows=200,
        reference_version="ref",
        model_version="1",
    )
    assert d["drift"] is False and d["drifted_features"] == []

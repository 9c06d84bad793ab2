from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.generator import generate_batch
from pipelines.monitoring import drift, retrain
from pipelines.params import RetrainParams
from tests.helpers import ORDERS


def window(rows: int) -> pd.DataFrame:
    return generate_batch(1, rows)[ORDERS.feature_columns()].assign(prediction=0.2)


def test_too_small_window_is_refused(tmp_path: Path) -> None:
    with pytest.raises(drift.MonitoringError, match="needs at least 200"):
        drift.run(
            window(50),
            window(1000),
            tmp_path,
            ORDERS,
            drift_share=0.3,
            min_rows=200,
            reference_version="x",
            model_version="1",
        )
    assert not any(tmp_path.iterdir())


def test_missing_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(drift.MonitoringError, match=r"lacks column.*brand"):
        drift.run(
            window(500).drop(columns=["brand"]),
            window(1000),
            tmp_path,
            ORDERS,
            drift_share=0.3,
            min_rows=200,
            reference_version="x",
            model_version="1",
        )


def test_retrain_only_on_drift_with_enough_labels() -> None:
    p = RetrainParams(min_new_rows=1000)
    assert not retrain.run({"drift": False, "drift_share": 0.1}, 5000, p).retrain
    waiting = retrain.run({"drift": True, "drift_share": 0.4, "drifted_features": ["brand"]}, 10, p)
    assert not waiting.retrain and "waiting for 1000" in waiting.reason
    go = retrain.run({"drift": True, "drift_share": 0.4, "drifted_features": ["brand", "price"]}, 5000, p)
    assert go.retrain and "brand, price" in go.reason and go.trigger == "drift"

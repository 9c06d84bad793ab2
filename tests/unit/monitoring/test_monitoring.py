from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.core.params import MonitorParams, RetrainParams
from pipelines.data.generator import generate_batch
from pipelines.monitoring import drift, retrain
from tests.helpers import ORDERS, sample_decision


def window(rows: int) -> pd.DataFrame:
    return generate_batch(1, rows)[ORDERS.feature_columns()].assign(prediction=0.2)


def inputs(current: pd.DataFrame, reference: pd.DataFrame) -> drift.DriftInputs:
    params = MonitorParams(drift_share=0.3, min_rows=200)
    return drift.DriftInputs(
        window=current, reference=reference, contract=ORDERS, params=params, reference_version="x", model_version="1"
    )


def test_too_small_window_is_refused(tmp_path: Path) -> None:
    with pytest.raises(drift.MonitoringError, match="needs at least 200"):
        drift.run(inputs(window(50), window(1000)), tmp_path)
    assert not any(tmp_path.iterdir())


def test_missing_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(drift.MonitoringError, match=r"lacks column.*brand"):
        drift.run(inputs(window(500).drop(columns=["brand"]), window(1000)), tmp_path)


def test_retrain_only_on_drift_with_enough_labels() -> None:
    p = RetrainParams(min_new_rows=1000)
    assert not retrain.run(sample_decision(drift=False, drift_share=0.1), 5000, p).retrain
    waiting = retrain.run(sample_decision(drift=True, drift_share=0.4, drifted_features=["brand"]), 10, p)
    assert not waiting.retrain and "waiting for 1000" in waiting.reason
    go = retrain.run(sample_decision(drift=True, drift_share=0.4, drifted_features=["brand", "price"]), 5000, p)
    assert go.retrain and "brand, price" in go.reason and go.trigger == "drift"


def test_a_quality_drop_alone_asks_for_retraining() -> None:
    p = RetrainParams(min_new_rows=1000)
    dropped = {"status": "judged", "ok": False, "metric": "roc_auc", "value": 0.61, "limit": 0.68, "message": "worse"}
    go = retrain.run(sample_decision(drift_share=0.0, model_quality=dropped), 3000, p)
    assert go.retrain and "roc_auc 0.610 on new labels, worse than 0.680" in go.reason
    held = {"status": "judged", "ok": True, "message": "holds"}
    fine = retrain.run(sample_decision(drift_share=0.0, model_quality=held), 3000, p)
    not_judged = {"status": "no labels", "ok": None, "message": "none"}
    unjudged = retrain.run(sample_decision(drift_share=0.0, model_quality=not_judged), 3000, p)
    assert not fine.retrain and not unjudged.retrain


def landed(raw: Path, batch: str, rows: int) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    generate_batch(1, rows).to_parquet(raw / f"{batch}.parquet", index=False)


def test_new_labels_are_the_batches_the_champion_did_not_know(tmp_path: Path) -> None:
    from pipelines.monitoring import labels

    raw = tmp_path / "raw"
    for name, rows in (("batch-0001", 300), ("batch-0002", 200), ("batch-0005", 150)):
        landed(raw, name, rows)
    new = labels.new_labels(raw, {"batch-0001", "batch-0002"}, "data version abc")
    assert new.batches == ["batch-0005"] and new.rows == 150
    assert new.describe() == "150 labelled rows in batch-0005 (data version abc)"
    frame = labels.read_labelled(raw, new, ORDERS, max_rows=100)
    assert len(frame) == 100 and ORDERS.target in frame
    assert labels.new_labels(tmp_path / "none", set(), "x").rows == 0


def test_a_damaged_batch_is_named(tmp_path: Path) -> None:
    from pipelines.monitoring import labels

    (tmp_path / "batch-0009.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=r"batch-0009.parquet cannot be read as Parquet"):
        labels.new_labels(tmp_path, set(), "x")


def test_champion_batches_fall_back_to_the_dataset_and_say_so(tmp_path: Path) -> None:
    import json

    from pipelines.monitoring import labels

    (tmp_path / "dataset").mkdir()
    manifest = {"contract": "c", "rows": 5, "train_rows": 4, "holdout_rows": 1, "holdout_share": 0.2}
    manifest |= {"batches": {"batch-0001": {"train": 4, "holdout": 1}}, "positive_rate": 0.2}
    (tmp_path / "dataset" / "manifest.json").write_text(json.dumps(manifest))
    known, source = labels.champion_batches(tmp_path / "versions.jsonl", "0123456789abcdef", tmp_path / "dataset")
    assert known == {"batch-0001"} and "is not in versions.jsonl" in source

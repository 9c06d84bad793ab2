from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.core.params import EvaluateParams, HistGradientBoosting, TrainParams
from pipelines.core.scoring import choose_threshold, score
from pipelines.data.generator import generate_batch
from pipelines.training import evaluate, train
from tests.helpers import ORDERS, write_dataset

FAST = TrainParams(model=HistGradientBoosting(max_iter=100))


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dataset")
    return write_dataset(folder, pd.concat([generate_batch(b, 2000) for b in (1, 2, 3)]), generate_batch(4, 1500))


@pytest.mark.slow
def test_training_is_reproducible(split: Path, tmp_path: Path) -> None:
    a = train.run(split, tmp_path / "a", ORDERS, FAST, EvaluateParams())
    b = train.run(split, tmp_path / "b", ORDERS, FAST, EvaluateParams())
    assert a == b
    ma = evaluate.run(tmp_path / "a", split, tmp_path / "ma", tmp_path / "pa", contract=ORDERS, params=EvaluateParams())
    mb = evaluate.run(tmp_path / "b", split, tmp_path / "mb", tmp_path / "pb", contract=ORDERS, params=EvaluateParams())
    assert ma == mb


@pytest.mark.slow
def test_model_learns_and_evaluation_writes_dvc_files(split: Path, tmp_path: Path) -> None:
    train.run(split, tmp_path / "m", ORDERS, FAST, EvaluateParams())
    metrics = evaluate.run(
        tmp_path / "m", split, tmp_path / "metrics", tmp_path / "plots", contract=ORDERS, params=EvaluateParams()
    )
    assert metrics["roc_auc"] > 0.62  # chance is 0.5; the full demo data reaches ~0.72
    assert set(metrics) >= {"roc_auc", "pr_auc", "f1", "brier", "prevented_per_1000", "threshold"}
    segments = json.loads((tmp_path / "metrics" / "segments.json").read_text())
    assert {"channel=web", "category=dresses", "brand=northwind"} <= set(segments)
    roc = json.loads((tmp_path / "plots" / "roc.json").read_text())["roc"]
    assert roc[0] == {"fpr": 0.0, "tpr": 0.0} and len(roc) <= 400


@pytest.mark.slow
def test_unseen_brand_still_predicts(split: Path, tmp_path: Path) -> None:
    import joblib

    train.run(split, tmp_path / "m", ORDERS, FAST, EvaluateParams())
    model = joblib.load(tmp_path / "m" / "model.joblib")
    drifted = generate_batch(9, 200, scenarios=["new_brand"])
    proba = model.predict_proba(drifted.drop(columns=["returned"]))[:, 1]
    assert np.isfinite(proba).all()


def test_single_class_target_is_refused(tmp_path: Path) -> None:
    frame = generate_batch(1, 300).assign(returned=0)
    write_dataset(tmp_path / "d", frame, frame)
    with pytest.raises(train.TrainingDataError, match="single class"):
        train.run(tmp_path / "d", tmp_path / "m", ORDERS, FAST, EvaluateParams())
    assert not (tmp_path / "m" / "model.joblib").exists()


def test_missing_column_is_refused(tmp_path: Path) -> None:
    frame = generate_batch(1, 300).drop(columns=["brand"])
    write_dataset(tmp_path / "d", frame, frame)
    with pytest.raises(train.TrainingDataError, match="brand"):
        train.run(tmp_path / "d", tmp_path / "m", ORDERS, FAST, EvaluateParams())


def test_threshold_follows_costs() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 1))
    y = (x[:, 0] + rng.normal(size=4000) > 0.5).astype(int)
    model = LogisticRegression().fit(x[:2000], y[:2000])
    cheap_misses = choose_threshold(model, x[2000:], y[2000:], cost_fn=1, cost_fp=4)
    costly_misses = choose_threshold(model, x[2000:], y[2000:], cost_fn=8, cost_fp=1)
    assert costly_misses < 0.5 < cheap_misses


def test_score_refuses_single_class() -> None:
    with pytest.raises(ValueError, match="single class"):
        score(np.zeros(10), np.linspace(0, 1, 10), 0.5, 0.5)


def test_data_that_breaks_the_contract_is_refused_before_training(tmp_path: Path) -> None:
    frame = generate_batch(1, 600)
    frame.loc[frame.index[:3], "price"] = -5.0
    frame.loc[frame.index[5], "returned"] = 3
    write_dataset(tmp_path / "d", frame, generate_batch(2, 300))
    with pytest.raises(train.TrainingDataError, match="breaks the data contract") as caught:
        train.run(tmp_path / "d", tmp_path / "m", ORDERS, FAST, EvaluateParams())
    assert "price" in str(caught.value) and "returned" in str(caught.value)
    assert not (tmp_path / "m").exists()


def test_duplicate_ids_across_batch_files_are_refused(tmp_path: Path) -> None:
    frame = generate_batch(1, 600)
    folder = write_dataset(tmp_path / "d", frame, generate_batch(2, 300))
    frame.head(10).to_parquet(folder / "train" / "batch-0002.parquet", index=False)
    with pytest.raises(train.TrainingDataError, match="id seen before"):
        train.run(folder, tmp_path / "m", ORDERS, FAST, EvaluateParams())


@pytest.mark.slow
def test_evaluation_writes_pngs_curves_and_ranks_segments(split: Path, tmp_path: Path) -> None:
    train.run(split, tmp_path / "m", ORDERS, FAST, EvaluateParams())
    params = EvaluateParams(min_segment_rows=50, importance_rows=500, importance_repeats=2)
    metrics = evaluate.run(
        tmp_path / "m", split, tmp_path / "metrics", tmp_path / "plots", contract=ORDERS, params=params
    )
    cells = (
        metrics["true_positives"] + metrics["false_positives"] + metrics["true_negatives"] + metrics["false_negatives"]
    )
    assert cells == metrics["rows"] == 1500
    # part:pictures:begin
    for name in ("roc", "pr", "calibration", "confusion", "importance", "segments"):
        assert (tmp_path / "plots" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    # part:pictures:end
    importance = json.loads((tmp_path / "plots" / "importance.json").read_text())["importance"]
    assert {r["feature"] for r in importance} == set(ORDERS.feature_columns())
    assert importance[0]["importance"] > 0  # the top feature matters: shuffling it costs AUC
    calibration = json.loads((tmp_path / "plots" / "calibration.json").read_text())["calibration"]
    assert len(calibration) == params.calibration_bins
    segments = json.loads((tmp_path / "metrics" / "segments.json").read_text())
    small = [k for k, v in segments.items() if v["rows"] < 50]
    assert all(not segments[k]["ranked"] for k in small)
    assert all("roc_auc" in v for v in segments.values() if v["ranked"])

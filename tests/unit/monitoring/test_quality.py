"""The model-quality check: Evidently's classification metrics on newly labelled rows, read from the right fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

from pipelines.core.contract import Contract
from pipelines.core.handoffs import ModelQuality
from pipelines.core.params import MonitorParams
from pipelines.monitoring import quality

ROWS = 2000
THRESHOLD = 0.35  # not 0.5, so a check that ignored the champion's threshold would show
BASELINE = 0.87  # what the synthetic "good" model scores (Φ(1.6/√2) ≈ 0.871)
DROP = 0.05


def frame(contract: Contract, rows: int = ROWS, *, seed: int = 0, shuffled: bool = False) -> pd.DataFrame:
    """Labels with a 30% positive rate, a quarter of them not yet in (NaN), and the champion's probabilities:
    informative (ROC AUC about 0.87), or shuffled across rows so they carry no information."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(int)
    proba = 1 / (1 + np.exp(-(1.6 * y + rng.normal(0, 1, rows) - 1)))
    if shuffled:
        proba = rng.permutation(proba)
    target = y.astype(float)
    target[rng.random(rows) < 0.25] = np.nan
    return pd.DataFrame({contract.target: target, "prediction": proba})


def judge(labelled: pd.DataFrame, out_dir: Path, contract: Contract, **overrides: Any) -> ModelQuality:
    kwargs: dict[str, Any] = {"metric": "roc_auc", "baseline": BASELINE, "threshold": THRESHOLD} | overrides
    min_rows = kwargs.pop("min_rows", 200)
    params = MonitorParams(max_quality_drop=DROP, min_rows=min_rows, window_rows=max(min_rows, 5000))
    return quality.run(labelled, out_dir, contract, params, **kwargs)


def labelled_only(labelled: pd.DataFrame, contract: Contract) -> tuple[np.ndarray, np.ndarray]:
    rows = labelled.dropna(subset=[contract.target])
    return rows[contract.target].astype(int).to_numpy(), rows["prediction"].to_numpy()


# Evidently runs twice for the whole module (a good and a degraded model); the other tests reuse the verdicts.
@pytest.fixture(scope="module")
def good_input(contract: Contract) -> pd.DataFrame:
    return frame(contract)


@pytest.fixture(scope="module")
def good(good_input: pd.DataFrame, contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return judge(good_input, tmp_path_factory.mktemp("good"), contract)


@pytest.fixture(scope="module")
def degraded(contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return judge(frame(contract, shuffled=True), tmp_path_factory.mktemp("degraded"), contract)


@pytest.mark.slow  # Evidently judges a model: seconds
def test_a_good_model_passes(good: dict[str, Any], good_input: pd.DataFrame, contract: Contract) -> None:
    y, _ = labelled_only(good_input, contract)
    assert good.status == "judged"
    assert good.ok is True
    assert good.labelled_rows == len(y) < ROWS  # the unlabelled rows were dropped, not judged
    assert good.metric == "roc_auc" and good.limit == round(BASELINE - DROP, 4)
    assert good.value >= good.limit
    assert good.positive_rate == pytest.approx(y.mean(), abs=1e-4)
    assert "holds up" in good.message and f"{len(y)} newly labelled rows" in good.message
    assert ModelQuality.model_validate_json(good.model_dump_json()) == good  # it goes into decision.json as it is


@pytest.mark.slow  # Evidently judges a model: seconds
def test_roc_auc_is_the_one_sklearn_computes(
    good: dict[str, Any], good_input: pd.DataFrame, contract: Contract
) -> None:
    y, proba = labelled_only(good_input, contract)
    assert good.value == pytest.approx(roc_auc_score(y, proba), abs=1e-6)


@pytest.mark.slow  # Evidently judges a model: seconds
def test_label_metrics_use_the_champions_threshold(
    good: dict[str, Any], good_input: pd.DataFrame, contract: Contract
) -> None:
    y, proba = labelled_only(good_input, contract)
    pred = (proba >= THRESHOLD).astype(int)
    expected = {
        "precision": precision_score(y, pred),
        "recall": recall_score(y, pred),
        "f1": f1_score(y, pred),
        "accuracy": accuracy_score(y, pred),
        "log_loss": log_loss(y, proba),
        "roc_auc": roc_auc_score(y, proba),
    }
    assert good.metrics == pytest.approx(expected, abs=1e-4)
    # At 0.5 the numbers differ, so the comparison above really tells the thresholds apart.
    assert abs(recall_score(y, (proba >= 0.5).astype(int)) - expected["recall"]) > 0.05


@pytest.mark.slow  # Evidently judges a model: seconds
def test_a_degraded_model_fails(degraded: dict[str, Any]) -> None:
    assert degraded.status == "judged"
    assert degraded.ok is False
    assert degraded.value == pytest.approx(0.5, abs=0.06)
    assert "got worse" in degraded.message
    assert f"below {BASELINE - DROP:.3f}" in degraded.message
    assert f"champion's holdout {BASELINE:.3f} minus {DROP:g}" in degraded.message


@pytest.mark.slow  # Evidently judges a model: seconds
def test_the_report_is_written(good: dict[str, Any]) -> None:
    report = Path(str(good.report))
    assert report.name == "quality.html"
    assert report.is_file() and not [p for p in report.parent.iterdir() if p.name.startswith(".")]  # no temporary
    html = report.read_text(encoding="utf-8")
    assert "RocAuc metric" in html
    assert f"{good.value:.3f}" in html


def test_no_labels_is_not_judged(contract: Contract, tmp_path: Path) -> None:
    labelled = frame(contract, 300).assign(**{contract.target: np.nan})
    verdict = judge(labelled, tmp_path / "out", contract)
    assert verdict.status == "no labels"
    assert verdict.labelled_rows == 0
    assert verdict.ok is None and verdict.report is None
    assert "no labelled rows" in verdict.message
    assert not (tmp_path / "out").exists()


def test_an_empty_frame_is_no_labels(contract: Contract, tmp_path: Path) -> None:
    # No batch labelled yet: no rows, and the prediction column need not even be numeric.
    labelled = pd.DataFrame({contract.target: pd.Series([], dtype=float), "prediction": pd.Series([], dtype=object)})
    verdict = judge(labelled, tmp_path, contract)
    assert verdict.status == "no labels" and verdict.labelled_rows == 0


def test_too_few_labels_are_not_judged(contract: Contract, tmp_path: Path) -> None:
    labelled = frame(contract).dropna().head(120)
    verdict = judge(labelled, tmp_path, contract, min_rows=200)
    assert verdict.status == "too few labels"
    assert verdict.labelled_rows == 120
    assert verdict.ok is None and verdict.report is None
    assert verdict.message == "only 120 labelled rows; 200 needed (monitor.min_rows)"
    assert not any(tmp_path.iterdir())


def test_one_class_is_not_judged(contract: Contract, tmp_path: Path) -> None:
    labelled = frame(contract).dropna().assign(**{contract.target: 0})
    verdict = judge(labelled, tmp_path, contract)
    assert verdict.status == "one class"
    assert verdict.ok is None and verdict.report is None
    assert verdict.positive_rate == 0.0
    assert "both classes" in verdict.message
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("column", ["target", "prediction"])
def test_missing_columns_are_named(column: str, contract: Contract, tmp_path: Path) -> None:
    name = contract.target if column == "target" else "prediction"
    with pytest.raises(ValueError, match=rf"lack column\(s\) {name}"):
        judge(frame(contract).drop(columns=[name]), tmp_path, contract)


@pytest.mark.parametrize("bad", [1.2, -0.1])
def test_predictions_outside_0_1_are_refused(bad: float, contract: Contract, tmp_path: Path) -> None:
    labelled = frame(contract)
    labelled.loc[7, "prediction"] = bad
    with pytest.raises(quality.QualityError, match=r"outside \[0, 1\]"):
        judge(labelled, tmp_path, contract)


def test_missing_predictions_are_refused(contract: Contract, tmp_path: Path) -> None:
    labelled = frame(contract)
    labelled.loc[3, "prediction"] = np.nan
    with pytest.raises(quality.QualityError, match="'prediction' has 1 missing value"):
        judge(labelled, tmp_path, contract)


def test_targets_other_than_0_1_are_refused(contract: Contract, tmp_path: Path) -> None:
    labelled = frame(contract).dropna()
    labelled.iloc[5, labelled.columns.get_loc(contract.target)] = 2
    with pytest.raises(
        quality.QualityError, match=rf"target '{contract.target}' must hold the codes \[0, 1\]; found 2"
    ):
        judge(labelled, tmp_path, contract)


def test_the_input_frame_is_left_alone(contract: Contract, tmp_path: Path) -> None:
    labelled = frame(contract, 300)
    before = labelled.copy()
    judge(labelled, tmp_path, contract, min_rows=10_000)
    pd.testing.assert_frame_equal(labelled, before)


def test_no_baseline_is_not_judged(contract: Contract, tmp_path: Path) -> None:
    frame = pd.DataFrame({contract.target: [0, 1] * 150, "prediction": [0.2, 0.8] * 150})
    verdict = judge(frame, tmp_path, contract, baseline=float("nan"), threshold=0.5)
    assert verdict.status == "no baseline" and verdict.ok is None and verdict.report is None


# Multiclass and regression targets ---------------------------------------------------------------------------


def _other_task(contract: Contract, column: dict[str, Any]) -> Contract:
    target = {"kind": "target", "description": "what the model predicts", **column}
    return contract.model_validate(
        {
            **contract.model_dump(by_alias=True, exclude_none=True),
            "columns": {**contract.model_dump(by_alias=True, exclude_none=True)["columns"], contract.target: target},
        }
    )


@pytest.mark.slow  # Evidently judges a model: seconds
def test_a_multiclass_model_is_judged_by_macro_f1_as_sklearn_computes_it(contract: Contract, tmp_path: Path) -> None:
    three = _other_task(contract, {"task": "multiclass", "allowed": ["S", "M", "L"]})
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, ROWS)
    logits = rng.normal(0, 1, (ROWS, 3)) + 1.5 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labelled = pd.DataFrame(proba, columns=["S", "M", "L"]).assign(**{three.target: y})
    pred = proba.argmax(axis=1)
    macro = f1_score(y, pred, average="macro")
    verdict = judge(labelled, tmp_path, three, metric="macro_f1", baseline=round(macro + 0.01, 4), threshold=None)
    assert verdict.status == "judged" and verdict.ok is True and verdict.metric == "macro_f1"
    assert verdict.value == pytest.approx(macro, abs=1e-6)
    assert verdict.metrics["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-4)
    assert verdict.metrics["log_loss"] == pytest.approx(log_loss(y, proba), abs=1e-4)
    worse = judge(labelled, tmp_path, three, metric="macro_f1", baseline=macro + 0.2, threshold=None)
    assert worse.ok is False and "got worse" in worse.message
    with pytest.raises(quality.QualityError, match=r"must hold the codes \[0, 1, 2\]; found 3"):
        judge(labelled.assign(**{three.target: 3}), tmp_path, three, metric="macro_f1", baseline=0.5)


@pytest.mark.slow  # Evidently judges a model: seconds
def test_a_regression_model_is_judged_by_rmse_where_lower_is_better(contract: Contract, tmp_path: Path) -> None:
    value = _other_task(contract, {"task": "regression", "min": 0})
    rng = np.random.default_rng(2)
    y = rng.uniform(10, 100, ROWS)
    labelled = pd.DataFrame({value.target: y, "prediction": y + rng.normal(0, 5, ROWS)})
    rmse = float(np.sqrt(np.mean((labelled["prediction"] - y) ** 2)))
    held = judge(labelled, tmp_path, value, metric="rmse", baseline=rmse - 0.01, threshold=None)
    assert held.ok is True and held.limit == round(rmse - 0.01 + DROP, 4) and held.value == pytest.approx(rmse)
    assert "at or below" in held.message and {"rmse", "mae", "r2"} == set(held.metrics)
    worse = judge(labelled, tmp_path, value, metric="rmse", baseline=rmse - 1.0, threshold=None)
    assert worse.ok is False and "above" in worse.message
    with pytest.raises(quality.QualityError, match="not a metric the monitor judges a regression model by"):
        judge(labelled, tmp_path, value, metric="roc_auc", baseline=0.8)

"""The service's fast path answers as scikit-learn does (to 1e-6) for every task and tree model, on records with
missing values and categories the model never saw, and steps aside for pipelines it cannot copy exactly."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.core.contract import Contract
from pipelines.core.params import HistGradientBoosting, LogisticRegression, RandomForest, TrainParams
from pipelines.core.scoring import outputs
from pipelines.training.features import build_pipeline
from services.api.fast_path import compile_pipeline, matches, probe_records

pytestmark = pytest.mark.slow  # fits models
SIZES = ["S", "M", "L"]
TARGETS: dict[str, dict[str, Any]] = {
    "binary": {"positive": "yes", "negative": "no"},
    "multiclass": {"task": "multiclass", "allowed": ["a", "b", "c"]},
    "regression": {"task": "regression"},
}


def contract(task: str) -> Contract:
    return Contract.model_validate(
        {
            "name": "shop",
            "batch_column": "batch_id",
            "target": "y",
            "columns": {
                "batch_id": {"kind": "batch", "description": "Delivery.", "example": "b1"},
                "brand": {"kind": "categorical", "description": "Maker.", "example": "b0", "pattern": "^b[0-9]$"},
                "size": {"kind": "ordinal", "description": "Size.", "example": "M", "allowed": SIZES},
                "price": {"kind": "numeric", "description": "Price.", "example": 20.0},
                "y": {"kind": "target", "description": "What is learnt.", **TARGETS[task]},
            },
        }
    )


def data(task: str, rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = rng.gamma(4, 10, rows)
    brand = rng.choice(["b0", "b1", "b2", "b3"], rows).astype(object)
    frame = pd.DataFrame({"brand": brand, "size": rng.choice(SIZES, rows), "price": price})
    frame.loc[rng.random(rows) < 0.1, "brand"] = None
    frame.loc[rng.random(rows) < 0.1, "price"] = np.nan
    score = np.nan_to_num(price, nan=40) / 40 + (frame["brand"] == "b1") + rng.normal(0, 0.3, rows)
    if task == "regression":
        frame["y"] = score
    else:
        cuts = [1.5] if task == "binary" else [1.0, 1.8]
        frame["y"] = np.digitize(score, cuts)  # class codes, as ingest encodes labels
    return frame


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    x = frame[["brand", "size", "price"]]
    found = x.astype(object).where(x.notna(), None).to_dict(orient="records")
    # What a request may bring that training never held: a new brand, a size that is not one, nothing at all.
    return [*found, {"brand": "b9", "size": "XXL", "price": 1e9}, {"brand": None, "size": None, "price": None}]


@pytest.mark.parametrize("task", list(TARGETS))
@pytest.mark.parametrize("model", [HistGradientBoosting(max_iter=40), RandomForest(n_estimators=20)])
def test_the_fast_path_answers_as_scikit_learn_does(task: str, model: Any) -> None:
    c = contract(task)
    pipeline = build_pipeline(TrainParams(model=model), c)
    train = data(task, 600, 0)
    pipeline.fit(train[["brand", "size", "price"]], train["y"])
    fast = compile_pipeline(pipeline)
    assert fast is not None
    classes = 1 if task == "regression" else len(c.labels)
    holdout = records(data(task, 300, 1))
    expected = outputs(
        pipeline, pd.DataFrame.from_records(holdout, columns=list(pipeline.feature_names_in_)), task, classes
    )  # type: ignore[arg-type]
    got = fast.outputs(holdout, task, classes)  # type: ignore[arg-type]
    assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-6
    assert matches(fast, pipeline, probe_records(fast, c.example_record()), task, classes)  # type: ignore[arg-type]


def test_a_pipeline_it_cannot_copy_exactly_is_left_to_scikit_learn() -> None:
    c = contract("binary")
    train = data("binary", 300, 0)
    linear = build_pipeline(TrainParams(model=LogisticRegression()), c)  # one-hot encoding, imputing, scaling
    linear.fit(train[["brand", "size", "price"]], train["y"])
    assert compile_pipeline(linear) is None
    assert compile_pipeline(linear[-1]) is None  # not a pipeline at all


def test_a_fast_path_that_disagrees_is_caught_by_the_probe() -> None:
    c = contract("binary")
    pipeline = build_pipeline(TrainParams(model=HistGradientBoosting(max_iter=20)), c)
    train = data("binary", 400, 0)
    pipeline.fit(train[["brand", "size", "price"]], train["y"])
    fast = compile_pipeline(pipeline)
    assert fast is not None
    brand = dict(fast.columns)["brand"]
    assert brand is not None
    reversed_codes = {k: float(len(brand) - 1) - v for k, v in brand.items()}
    wrong = replace(fast, columns=tuple((n, reversed_codes if n == "brand" else codes) for n, codes in fast.columns))
    assert not matches(wrong, pipeline, probe_records(fast, c.example_record()), "binary", 2)

"""The contract's target declares the task (binary, multiclass, regression); the contract, ingest's encoding,
params.yaml's metric names, the metrics and the service's answers follow it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.dummy import DummyClassifier

from pipelines.core.contract import Contract
from pipelines.core.contract_checks import Screen
from pipelines.core.params import Params, ParamsError, check_against
from pipelines.core.scoring import class_proba, predict, score_task
from tests.helpers import ORDERS

CLASSES = ["barolo", "grignolino", "barbera"]


def contract(target: dict[str, Any]) -> Contract:
    return Contract.model_validate(
        {
            "name": "wines",
            "batch_column": "batch_id",
            "target": "y",
            "columns": {
                "batch_id": {"kind": "batch", "description": "Delivery.", "example": "b1"},
                "alcohol": {"kind": "numeric", "description": "Per cent.", "example": 13.0},
                "y": {"kind": "target", "description": "What is learnt.", **target},
            },
        }
    )


MULTI = {"task": "multiclass", "allowed": CLASSES}
REGRESSION = {"task": "regression", "min": 0}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"task": "multiclass"}, "lists its classes in `allowed`"),
        ({"allowed": ["a", "b", "c"]}, "lists its classes in `allowed`"),
        ({"task": "multiclass", "allowed": ["a", "A"]}, "at least three distinct classes"),
        ({"task": "regression", "positive": "yes"}, "name a binary target's two labels"),
        ({"task": "multiclass", "allowed": CLASSES, "min": 0}, "numeric columns and regression targets only"),
        ({"task": "clustering"}, "Input should be 'binary', 'multiclass' or 'regression'"),
    ],
)
def test_a_target_that_cannot_be_learnt_is_refused_by_name(target: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        contract(target)


def test_task_belongs_to_the_target() -> None:
    with pytest.raises(ValidationError, match="`task` belongs to a target column"):
        Contract.model_validate(
            {
                "name": "x",
                "batch_column": "b",
                "target": "y",
                "columns": {
                    "b": {"kind": "batch", "description": "d", "example": "b1"},
                    "a": {"kind": "numeric", "description": "d", "example": 1.0, "task": "regression"},
                    "y": {"kind": "target", "description": "d"},
                },
            }
        )


def test_classes_are_encoded_at_the_door_and_an_unknown_one_is_refused() -> None:
    c = contract(MULTI | {"allowed": [0, 1, 2]})  # classes written as numbers are their texts
    assert c.task == "multiclass" and c.labels == ("0", "1", "2")
    batch = pd.DataFrame({"alcohol": [13.0, 12.5, 14.1, 13.3], "y": [2, "1", 0.0, 7], "batch_id": "b1"})
    screen = Screen(c, "wines.csv")
    good, bad = screen.screen(batch)
    assert good["y"].tolist() == [2, 1, 0] and good["y"].dtype == "int64"
    assert bad["_reason"].tolist() == ["y: unknown label"]
    assert "label is one of ['0', '1', '2']" in screen.finish(max_invalid_share=0.0, delivery=True).summary()


def test_a_regression_target_takes_numbers_in_its_range_only() -> None:
    c = contract(REGRESSION)
    batch = pd.DataFrame({"alcohol": [13.0] * 4, "y": ["151", 75.5, "lots", -3.0], "batch_id": "b1"})
    screen = Screen(c, "progress.csv")
    good, bad = screen.screen(batch)
    assert good["y"].tolist() == [151.0, 75.5]
    assert sorted(bad["_reason"].str.split(":").str[0]) == ["y", "y"]
    assert "a number (contract: a regression target)" in screen.finish(max_invalid_share=0.0, delivery=True).summary()


def test_params_yaml_may_only_name_metrics_the_task_has() -> None:
    params = Params()
    check_against(params, ORDERS)  # the defaults fit the demo's binary target
    with pytest.raises(ParamsError, match=r"promote.metric names 'roc_auc', which a regression model does not have"):
        check_against(params, contract(REGRESSION))
    gate = params.promote.model_copy(update={"metric": "macro_f1", "floors": {"recall_barbera": 0.5}, "ceilings": {}})
    check_against(params.model_copy(update={"promote": gate}), contract(MULTI))
    with pytest.raises(ParamsError, match=r"promote.floors names 'rmse', which a multiclass model does not have"):
        check_against(
            params.model_copy(update={"promote": gate.model_copy(update={"floors": {"rmse": 1}})}), contract(MULTI)
        )


def test_metrics_and_answers_follow_the_task() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    proba = np.eye(3)[[0, 1, 2, 1, 1, 0]] * 0.8 + 0.2 / 3
    m = score_task("multiclass", y, proba, labels=tuple(CLASSES), threshold=None, success_rate=0.5)
    assert m["accuracy"] == pytest.approx(5 / 6) and m["recall_barbera"] == 0.5 and m["rows"] == 6
    r = score_task(
        "regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]), labels=(), threshold=None, success_rate=0
    )
    assert r["mae"] == pytest.approx(1 / 3) and r["rmse"] == pytest.approx(np.sqrt(1 / 3))
    # A class the training data never had gets probability 0, in its own column.
    model = DummyClassifier(strategy="prior").fit(np.zeros((4, 1)), [0, 0, 2, 2])
    full = class_proba(model, np.zeros((2, 1)), 3)
    assert full.shape == (2, 3) and full[:, 1].tolist() == [0.0, 0.0]
    assert predict(model, np.zeros((2, 1)), "multiclass", 3).tolist() == [0.0, 0.0]

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.contract import load as load_contract
from pipelines.core.params import EvaluateParams, PromoteParams
from pipelines.release.register import (
    Candidate,
    Holdout,
    RegisterInputs,
    Registry,
    _judge,
    contract_change,
    contract_tags,
    gate,
)
from tests.helpers import REPO

P = PromoteParams(metric="roc_auc", floors={"roc_auc": 0.7}, ceilings={"brier": 0.25}, min_improvement=0.01)


def m(auc: float, brier: float = 0.15) -> dict[str, float]:
    return {"roc_auc": auc, "pr_auc": auc - 0.2, "brier": brier}


GOOD = m(0.9)


def test_first_model_needs_only_the_floors() -> None:
    ok, reason = gate(m(0.75), None, P)
    assert ok and "no champion" in reason


def test_floor_and_ceiling_block() -> None:
    ok, reason = gate(m(0.69), None, P)
    assert not ok and "below the floor" in reason
    ok, reason = gate(m(0.8, brier=0.3), None, P)
    assert not ok and "brier" in reason


def test_challenger_must_beat_champion_by_the_margin() -> None:
    assert not gate(m(0.805), m(0.80), P)[0]
    ok, reason = gate(m(0.811), m(0.80), P)
    assert ok and "beats champion" in reason
    assert not gate(m(0.78), m(0.80), P)[0]


# A champion trained on another contract ---------------------------------------------------------------------


def _inputs(contract: Contract, *, compare: bool = True) -> RegisterInputs:
    return RegisterInputs(
        registry=Registry(tracking_uri="sqlite:///unused.db", model_name="churn"),
        candidate=Candidate(run_id="r", model_uri="models:/m-1"),
        holdout=Holdout(dataset_dir=Path("unused"), version="v", contract=contract),
        gate=P,
        costs=EvaluateParams(),
        promoted_by="test",
        compare=compare,
    )


def _champion(contract: Contract, features: list[str] | None = None) -> SimpleNamespace:
    tags = contract_tags(contract) | ({"relay.features": ",".join(features)} if features is not None else {})
    return SimpleNamespace(version=1, tags={**tags, "relay.threshold": "0.5"})


def test_a_champion_on_another_contract_gets_a_verdict_that_says_what_differs_and_how_to_go_on() -> None:
    contract = load_contract(REPO / "contract.yaml")
    champion = _champion(contract, ["tenure_months", *contract.feature_columns()[1:]])
    promoted, reason, metrics = _judge(_inputs(contract), GOOD, champion, pd.DataFrame())
    assert not promoted and metrics is None
    assert "champion 1 was trained on contract 'orders'" in reason
    assert f"not in this one: tenure_months; new: {contract.feature_columns()[0]}" in reason
    assert "new model name" in reason and "relay pipeline --no-compare" in reason


def test_no_compare_judges_the_candidate_on_the_floors_alone() -> None:
    contract = load_contract(REPO / "contract.yaml")
    champion = _champion(contract, ["other"])
    promoted, reason, _ = _judge(_inputs(contract, compare=False), GOOD, champion, pd.DataFrame())
    assert promoted and reason.startswith("not compared with champion 1 (--no-compare)")
    assert not _judge(_inputs(contract, compare=False), {**GOOD, "roc_auc": 0.5}, champion, pd.DataFrame())[0]


def test_the_same_contract_is_no_change() -> None:
    contract = load_contract(REPO / "contract.yaml")
    assert contract_change(contract_tags(contract), contract) is None
    assert contract_change({}, contract) is None  # a champion from before the tags: scored, and judged on that


def test_a_metric_where_lower_is_better_is_gated_that_way() -> None:
    rmse = PromoteParams(metric="rmse", floors={"r2": 0.3}, ceilings={"rmse": 50.0}, min_improvement=0.5)
    assert rmse.lower_is_better
    ok, reason = gate({"rmse": 40.0, "r2": 0.5}, {"rmse": 41.0, "r2": 0.45}, rmse)
    assert ok and "beats champion 41.0000 by 1.0000" in reason
    ok, reason = gate({"rmse": 40.8, "r2": 0.5}, {"rmse": 41.0, "r2": 0.45}, rmse)
    assert not ok and "lower is better" in reason
    assert "above the ceiling 50.0" in gate({"rmse": 51.0, "r2": 0.5}, None, rmse)[1]
    assert "below the floor 0.3" in gate({"rmse": 40.0, "r2": 0.2}, None, rmse)[1]


def test_params_yaml_may_set_the_direction_itself() -> None:
    upward = PromoteParams(metric="rmse", direction="higher", floors={}, ceilings={}, min_improvement=0.0)
    assert not upward.lower_is_better
    assert gate({"rmse": 2.0}, {"rmse": 1.0}, upward)[0]

from __future__ import annotations

from pipelines.core.params import PromoteParams
from pipelines.release.register import gate

P = PromoteParams(metric="roc_auc", min_roc_auc=0.7, max_brier=0.25, min_improvement=0.01)


def m(auc: float, brier: float = 0.15) -> dict[str, float]:
    return {"roc_auc": auc, "pr_auc": auc - 0.2, "brier": brier}


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

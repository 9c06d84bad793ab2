from __future__ import annotations

import pandas as pd
import pytest

from pipelines.data.generator import NEW_BRAND, SCENARIOS, generate_batch
from pipelines.data.validate import check_frame


def test_same_seed_same_batch() -> None:
    pd.testing.assert_frame_equal(generate_batch(3, 500, seed=1), generate_batch(3, 500, seed=1))


def test_batches_and_seeds_differ() -> None:
    assert not generate_batch(3, 500, seed=1).equals(generate_batch(4, 500, seed=1))
    assert not generate_batch(3, 500, seed=1).equals(generate_batch(3, 500, seed=2))


@pytest.mark.parametrize("scenarios", [(), *[(s,) for s in SCENARIOS], ("new_brand", "promotion")])
def test_every_scenario_meets_the_contract(scenarios: tuple[str, ...]) -> None:
    report = check_frame(generate_batch(2, 2000, scenarios=scenarios), "gen")
    assert report.ok, report.summary()


def test_order_ids_unique_across_batches() -> None:
    both = pd.concat([generate_batch(1, 1000), generate_batch(2, 1000)])
    assert both["order_id"].is_unique


def test_drift_scenarios_move_what_they_claim() -> None:
    clean = generate_batch(5, 20_000)
    brand = generate_batch(5, 20_000, scenarios=["new_brand"])
    promo = generate_batch(5, 20_000, scenarios=["promotion"])
    policy = generate_batch(5, 20_000, scenarios=["policy_change"])
    assert NEW_BRAND not in set(clean["brand"])
    assert 0.3 < (brand["brand"] == NEW_BRAND).mean() < 0.4
    assert promo["discount"].mean() > clean["discount"].mean() + 0.2
    assert promo["price"].median() < clean["price"].median()
    # concept drift only: features unchanged, the return rate rises
    pd.testing.assert_frame_equal(policy.drop(columns="returned"), clean.drop(columns="returned"))
    assert policy["returned"].mean() > clean["returned"].mean() + 0.1
    # the new brand runs small, so its orders come back more often
    assert brand.loc[brand["brand"] == NEW_BRAND, "returned"].mean() > clean["returned"].mean() + 0.1


def test_label_depends_on_fit() -> None:
    frame = generate_batch(1, 20_000)
    mismatch = frame["ordered_size"] != frame["usual_size"]
    assert frame.loc[mismatch, "returned"].mean() > frame.loc[~mismatch, "returned"].mean() + 0.1


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="unknown drift scenario"):
        generate_batch(1, 10, scenarios=["meteor"])
    with pytest.raises(ValueError, match="batch numbers start at 1"):
        generate_batch(0, 10)
    with pytest.raises(ValueError, match="rows must be positive"):
        generate_batch(1, 0)

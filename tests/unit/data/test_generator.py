from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.data import generator
from pipelines.data.generator import NEW_BRAND, SCENARIOS, generate_batch, generate_chunks
from pipelines.data.validate import check_frame
from tests.helpers import ORDERS


def test_same_seed_same_batch() -> None:
    pd.testing.assert_frame_equal(generate_batch(3, 500, seed=1), generate_batch(3, 500, seed=1))


def test_batches_and_seeds_differ() -> None:
    assert not generate_batch(3, 500, seed=1).equals(generate_batch(4, 500, seed=1))
    assert not generate_batch(3, 500, seed=1).equals(generate_batch(3, 500, seed=2))


@pytest.mark.parametrize("scenarios", [(), *[(s,) for s in SCENARIOS], ("new_brand", "promotion")])
def test_every_scenario_meets_the_contract(scenarios: tuple[str, ...]) -> None:
    report = check_frame(generate_batch(2, 2000, scenarios=scenarios), ORDERS, "gen")
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
    with pytest.raises(ValueError, match="batch numbers run from 1"):
        generate_batch(0, 10)
    with pytest.raises(ValueError, match="rows must be positive"):
        generate_batch(1, 0)


def test_chunks_make_the_same_batch_as_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "CHUNK_ROWS", 300)
    chunks = list(generate_chunks(2, 1000))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    whole = generate_batch(2, 1000)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert whole["order_id"].is_unique and whole["order_ts"].is_monotonic_increasing


def test_marginals_and_correlations_look_like_a_shop() -> None:
    f = generate_batch(1, 50_000)
    assert 0.01 < f["customer_weight_kg"].isna().mean() < 0.05  # some profiles leave weight out
    assert f["customer_height_cm"].corr(f["customer_weight_kg"]) > 0.4
    size_rank = f["usual_size"].map({s: i for i, s in enumerate(generator.SIZES)})
    assert size_rank.corr(f["customer_height_cm"]) > 0.5
    assert (f["ordered_size"] == f["usual_size"]).mean() > 0.6
    assert f["channel"].value_counts(normalize=True)["web"] > f["channel"].value_counts(normalize=True)["app"]
    # brand fit: items of a brand that runs large come back more often when ordered in the usual size
    same = f[f["ordered_size"] == f["usual_size"]]
    by_brand = same.groupby("brand")["returned"].mean()
    assert by_brand["alder"] > by_brand["northwind"]
    assert 0.15 < f["returned"].mean() < 0.4


def test_seasons_shape_catalogue_and_discounts() -> None:
    winter, summer, autumn = (generate_batch(b, 20_000) for b in (1, 27, 40))  # Jan, Jul, Oct weeks
    share = lambda f, c: (f["category"] == c).mean()  # noqa: E731
    assert share(winter, "outerwear") > share(summer, "outerwear") + 0.1
    assert share(summer, "dresses") > share(winter, "dresses") + 0.1
    assert winter["discount"].mean() > autumn["discount"].mean() + 0.02  # winter sales
    assert np.isclose(summer["discount"].mean(), winter["discount"].mean(), rtol=0.1)  # summer sales


def test_a_week_beyond_the_last_is_one_clear_line() -> None:
    """Issue 21: `relay data ingest --batch 500000` ended in a 48-line OverflowError traceback."""
    assert generate_batch(9999, 10)["order_ts"].notna().all()
    with pytest.raises(ValueError, match=r"batch numbers run from 1 to 9999 .*got 500000"):
        generate_batch(500_000, 10)
